/**
 * The link as a judge: `kvm_nvhe.o` linked by the real `ld`, with the arm64 vmlinux link's
 * flags, against the nVHE alias list of the build. What ld rejects there, the final vmlinux
 * link rejects too: an alias whose nVHE target no object defines, and any other link error
 * that the symbol, section and instrumentation rules do not already explain.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { linkLikeVmlinux, type BinutilsOptions } from "../io/binutils.js";
import { treeRelative } from "../io/kbuild-files.js";
import { IMAGE_VARS, NVHE_PREFIX, aliasLine } from "./aliases.js";
import { RULES, type Finding, type NvheAlias } from "./types.js";

/** A name ld can be given in a script, and that is safe to show: no expression, no path. */
const SYMBOL = /^[A-Za-z_.$][\w.$]*$/;

/** The file name of the generated script; ld names it in expression errors. */
export const LINK_SCRIPT = "nvhe-aliases.lds";

/** ld stops at the first undefined symbol of a script expression: one alias per round. */
const MAX_ROUNDS = 16;

/** Where ld places a diagnostic: a source or script line, or an object and section. */
export interface LinkLocation {
  /** As ld prints it: a source path from debug info, the script, or the object. */
  file: string | null;
  line: number | null;
  section: string | null;
  offset: number | null;
  /** From ld's `in function` context line, as named there. */
  function: string | null;
}

/** One error of ld, parsed; warnings are not rejections and are left out. */
export type LinkDiagnostic = LinkLocation &
  (
    | { kind: "undefined-in-expression"; symbol: string }
    | { kind: "undefined-reference"; symbol: string }
    | { kind: "relocation"; symbol: string; relocation: string }
    | { kind: "multiple-definition"; symbol: string }
    /** An error this parser does not classify; `text` is kept for logs only. */
    | { kind: "other"; text: string }
  );

/** The script: kernel targets defined (the rest of vmlinux has them), then the aliases. */
export interface LinkScript {
  text: string;
  /** 1-based script line -> the alias assigned there. */
  aliasAt: ReadonlyMap<number, NvheAlias>;
  /** Aliases left out because their target is an expression, not a symbol. */
  skipped: NvheAlias[];
}

/**
 * The alias assignments of vmlinux.lds as a script for linking kvm_nvhe.o alone. Kernel
 * symbols an alias names are given a value (they are defined by the rest of vmlinux, which
 * this link does not have); `__kvm_nvhe_` targets must come from kvm_nvhe.o itself. An
 * alias in `broken` is assigned 0 instead, so that ld goes on to the next problem.
 */
export function nvheLinkScript(
  aliases: readonly NvheAlias[],
  broken: ReadonlySet<NvheAlias> = new Set(),
): LinkScript {
  const usable = aliases.filter((a) => SYMBOL.test(a.name) && SYMBOL.test(a.target));
  const skipped = aliases.filter((a) => !usable.includes(a));
  const kernel = [...new Set(usable.map((a) => a.target))]
    .filter((t) => !t.startsWith(NVHE_PREFIX))
    .sort();
  const lines = ["/* generated: kvm_nvhe.o against the nVHE alias list of vmlinux.lds */"];
  for (const target of kernel) lines.push(`PROVIDE(${target} = 0);`);
  const aliasAt = new Map<number, NvheAlias>();
  for (const alias of usable) {
    lines.push(`${NVHE_PREFIX}${alias.name} = ${broken.has(alias) ? "0" : alias.target};`);
    aliasAt.set(lines.length, alias);
  }
  return { text: `${lines.join("\n")}\n`, aliasAt, skipped };
}

const noLocation = (): LinkLocation => ({
  file: null,
  line: null,
  section: null,
  offset: null,
  function: null,
});

/** `file:line:(sec+0xoff): msg`, `file:line: msg`, `obj:(sec+0xoff): msg`, `obj: msg`. */
function splitLocation(rest: string): { at: LinkLocation; message: string } {
  const at = noLocation();
  // `obj.o:file:line: ...` (ld's "more undefined references" line) names the object first.
  let m = /^(?:[^:\s/]+\.o:)?(.+?):(\d+):(?:\(([^()+\s]+)\+0x([0-9a-f]+)\):)? (.*)$/.exec(rest);
  if (m?.[1] && m[2] && m[5] !== undefined) {
    at.file = m[1];
    at.line = Number(m[2]);
    if (m[3] && m[4]) {
      at.section = m[3];
      at.offset = parseInt(m[4], 16);
    }
    return { at, message: m[5] };
  }
  // `obj.o:file:(section+0x..): ...`: without debug information, no line (the object first
  // when ld says more undefined references follow).
  m = /^(?:[^:\s]+\.o:)?([^:\s][^:]*?):\(([^()+\s]+)\+0x([0-9a-f]+)\): (.*)$/.exec(rest);
  if (m?.[1] && m[2] && m[3] && m[4] !== undefined) {
    at.file = m[1];
    at.section = m[2];
    at.offset = parseInt(m[3], 16);
    return { at, message: m[4] };
  }
  m = /^([^:\s][^:]*?): (.*)$/.exec(rest);
  if (m?.[1] && m[2] !== undefined && !/^warning$/.test(m[1])) {
    at.file = m[1];
    return { at, message: m[2] };
  }
  return { at, message: rest };
}

const IGNORED = [
  /^warning: /,
  /^additional relocation overflows omitted/,
  /^final link failed/,
  /^failed to set dynamic section sizes/,
];

/**
 * ld's standard error, as diagnostics. `program` is the name ld prefixes its own messages
 * with (`aarch64-linux-gnu-ld`). Run with LC_ALL=C. Pure.
 */
export function parseLinkDiagnostics(stderr: string, program: string): LinkDiagnostic[] {
  const out: LinkDiagnostic[] = [];
  let context: string | null = null;
  for (const raw of stderr.split("\n")) {
    let rest = raw.trimEnd();
    if (rest.startsWith(`${program}:`)) rest = rest.slice(program.length + 1).trimStart();
    if (rest === "") continue;
    const { at, message } = splitLocation(rest);
    if (IGNORED.some((re) => re.test(message))) continue;
    const fn = /^in function `([^']+)':$/.exec(message);
    if (fn?.[1]) {
      context = fn[1];
      continue;
    }
    const where = { ...at, function: context };
    let m: RegExpExecArray | null;
    if ((m = /^undefined symbol `([^']+)' referenced in expression$/.exec(message)) && m[1]) {
      out.push({ ...where, function: null, kind: "undefined-in-expression", symbol: m[1] });
    } else if (
      (m = /^(?:undefined reference to|more undefined references to) `([^']+)'/.exec(message)) &&
      m[1]
    ) {
      out.push({ ...where, kind: "undefined-reference", symbol: m[1] });
    } else if (
      (m =
        /^relocation (?:truncated to fit: )?(R_\w+) against (?:symbol |undefined symbol )?`([^']+)'/.exec(
          message,
        )) &&
      m[1] &&
      m[2]
    ) {
      out.push({ ...where, kind: "relocation", symbol: m[2], relocation: m[1] });
    } else if ((m = /^multiple definition of `([^']+)'/.exec(message)) && m[1]) {
      out.push({ ...where, kind: "multiple-definition", symbol: m[1] });
    } else if (/^dangerous relocation: /.test(message) && out.at(-1)?.kind === "relocation") {
      // ld's second line for the relocation before it: where it is, when that lacked it.
      const last = out.at(-1);
      if (last && last.line === null) Object.assign(last, { ...at, function: last.function });
    } else {
      out.push({ ...where, kind: "other", text: raw });
    }
  }
  return out;
}

/** What the link says: aliases ld rejected, and every other error of its last round. */
export interface LinkJudgement {
  /** Aliases whose target ld found undefined, in the order it rejected them. */
  broken: NvheAlias[];
  /** The errors of the last round (the one that no longer stops at an alias). */
  diagnostics: LinkDiagnostic[];
  /** Aliases with an expression as target, not judged. */
  skipped: NvheAlias[];
  rounds: number;
  exitCode: number;
}

/**
 * Link `object` (relative to `opts.cwd`, the build dir) against `aliases` as vmlinux links
 * it, round after round while ld stops at an alias whose target is undefined (each round
 * takes a fraction of a second). Writes only to a temporary directory.
 */
export async function judgeNvheLink(
  object: string,
  aliases: readonly NvheAlias[],
  opts: BinutilsOptions = {},
): Promise<LinkJudgement> {
  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-link-"));
  try {
    const broken: NvheAlias[] = [];
    for (let round = 1; ; round++) {
      const script = nvheLinkScript(aliases, new Set(broken));
      const scriptPath = path.join(dir, LINK_SCRIPT);
      await writeFile(scriptPath, script.text);
      const outcome = await linkLikeVmlinux(
        [object],
        scriptPath,
        path.join(dir, "kvm_nvhe.linked"),
        opts,
      );
      const diagnostics = parseLinkDiagnostics(outcome.stderr, outcome.program);
      const stop = diagnostics.find(
        (d) => d.kind === "undefined-in-expression" && d.file === scriptPath,
      );
      const alias = stop?.line ? script.aliasAt.get(stop.line) : undefined;
      const done = { diagnostics, skipped: script.skipped, rounds: round };
      if (!alias || broken.includes(alias) || round === MAX_ROUNDS)
        return { broken, ...done, exitCode: outcome.exitCode };
      broken.push(alias);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type Draft = Omit<Finding, "key">;

export interface LinkFindingContext {
  srcDir: string;
  buildDir: string;
  config: string;
  /** The linked object, relative to the build dir. */
  object: string;
  /**
   * Symbols (without `__kvm_nvhe_`) other rules already report from `nm -u`: an undefined
   * reference to one of them is the same fact, not a second finding.
   */
  covered: ReadonlySet<string>;
  /** The tree's image-vars.h, for the line of a rejected alias. */
  imageVars: string | null;
}

const unprefixed = (name: string) =>
  name.startsWith(NVHE_PREFIX) ? name.slice(NVHE_PREFIX.length) : name;

const WHAT: Record<string, string> = {
  "undefined-reference": "an undefined reference to",
  relocation: "a relocation it cannot apply against",
  "multiple-definition": "a second definition of",
};

/** The findings of a link judgement. Messages are composed here; ld's text is never quoted. */
export function linkFindings(judgement: LinkJudgement, ctx: LinkFindingContext): Draft[] {
  const drafts: Draft[] = [];
  const base = {
    rule: RULES.linkError,
    severity: "error" as const,
    inlineChain: [],
    config: ctx.config,
    object: ctx.object,
  };
  for (const alias of judgement.broken) {
    const symbol = unprefixed(alias.target);
    const macro = alias.target.startsWith(NVHE_PREFIX)
      ? `KVM_NVHE_ALIAS_HYP(${alias.name}, ${symbol})`
      : `KVM_NVHE_ALIAS(${alias.name})`;
    drafts.push({
      ...base,
      kind: "alias",
      symbol,
      file: IMAGE_VARS,
      line: ctx.imageVars === null ? null : aliasLine(ctx.imageVars, alias),
      function: null,
      message: `${macro}: ${ctx.object} defines no global ${alias.target}, so ld rejects the alias and the vmlinux link fails`,
    });
  }
  // A link that succeeds rejects nothing, whatever ld printed on the way.
  const errors = judgement.exitCode === 0 ? [] : judgement.diagnostics;
  const seen = new Set<string>();
  let unclassified = 0;
  for (const d of errors) {
    if (d.kind === "other" || d.kind === "undefined-in-expression" || !SYMBOL.test(d.symbol)) {
      unclassified++;
      continue;
    }
    const symbol = unprefixed(d.symbol);
    if (ctx.covered.has(symbol)) continue;
    const source =
      d.file && d.line !== null ? treeRelative(d.file, ctx.srcDir, ctx.buildDir) : null;
    const file = source && !path.isAbsolute(source) ? source : null;
    const fn = d.function && SYMBOL.test(d.function) ? unprefixed(d.function) : null;
    // ld's several lines about one reference (undefined, then its relocation) are one finding.
    const identity = JSON.stringify([symbol, file, d.line, fn]);
    if (seen.has(identity)) continue;
    seen.add(identity);
    const where = file ? ` at ${file}:${d.line}` : "";
    drafts.push({
      ...base,
      kind: "symbol",
      symbol,
      file,
      line: file ? d.line : null,
      function: fn,
      ...(d.section ? { section: d.section } : {}),
      message: `ld rejects the vmlinux link of ${ctx.object} with ${WHAT[d.kind] ?? "an error about"} ${d.symbol}${fn ? ` in ${fn}` : ""}${where}`,
    });
  }
  // A failure ld gave no parsable reason for is still a failure.
  const silent = judgement.exitCode !== 0 && errors.length === 0 && judgement.broken.length === 0;
  if (unclassified > 0 || silent)
    drafts.push({
      ...base,
      kind: "link",
      symbol: "ld",
      file: null,
      line: null,
      function: null,
      occurrences: Math.max(unclassified, 1),
      message: `ld rejects the vmlinux link of ${ctx.object} against the nVHE alias list with ${unclassified > 1 ? `${unclassified} errors` : "an error"} hypwatch does not classify`,
    });
  return drafts;
}
