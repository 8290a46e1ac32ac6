/**
 * Modern era (v5.9+): judge the built nVHE object `kvm_nvhe.o` and the per-file `.nvhe.o`
 * objects it was linked from.
 */
import { readdir } from "node:fs/promises";
import pMap from "p-map";
import { readContained, readUntrustedFile } from "../io/untrusted.js";
import path from "node:path";
import { listUndefinedSymbols, type BinutilsOptions } from "../io/binutils.js";
import { parseUndefinedSymbols } from "./elf.js";
import { IMAGE_VARS, NVHE_PREFIX, aliasFindings, newAliases, parseNvheAliases } from "./aliases.js";
import { findingKeys } from "./diff.js";
import { judgeNvheLink, linkFindings } from "./link.js";
import {
  constructorInstrumentation,
  enablingFlags,
  instrumentationOfSection,
  isConstructorSection,
  instrumentationOfSymbol,
  isShadowCallStackInstruction,
  makefileGuard,
  type InstrumentationName,
} from "./instrumentation.js";
import {
  cmdFileOf,
  linkInputs,
  parseKbuildCmd,
  treeRelative,
  type KbuildCommand,
} from "../io/kbuild-files.js";
import {
  isUndefinedIn,
  ObjectMemo,
  readInstructions,
  readObject,
  readObjects,
  resolveSites,
  type ObjectInfo,
  type SourceSite,
} from "./objects.js";
import { CheckInputError, RULES, type Finding, type InlineFrame, type NvheAlias } from "./types.js";
import { beyondMachinery, codePlaceOf } from "./tables.js";
import { namingFrame } from "./naming-line.js";
import type { DisassembledInstruction, Relocation } from "./elf.js";

export const NVHE_DIR = "arch/arm64/kvm/hyp/nvhe";
export const NVHE_OBJECT = `${NVHE_DIR}/kvm_nvhe.o`;
export const NVHE_MAKEFILE = `${NVHE_DIR}/Makefile`;
export const VMLINUX_LDS = "arch/arm64/kernel/vmlinux.lds";

/**
 * Allocatable sections of kvm_nvhe.o that hyp.lds does not rename and that are fine there:
 * the kernel's own tables, which vmlinux.lds collects from every object.
 */
export const NVHE_SECTION_ALLOWLIST: readonly string[] = [
  ".altinstructions",
  "__kvm_ex_table",
  "__bug_table",
  "__jump_table",
  ".note.gnu.property",
  // vmlinux.lds discards it (DISCARDS): DEFINE_PER_CPU's __pcpu_unique_* markers with
  // DEBUG_FORCE_WEAK_PER_CPU.
  ".discard",
];

export interface ModernBuildInput {
  /** The kernel source tree (worktree) the build dir was built from. */
  srcDir: string;
  /** The `O=` build dir holding the built nVHE objects and `arch/arm64/kernel/vmlinux.lds`. */
  buildDir: string;
  /** Name of the build configuration, copied into each finding. */
  config: string;
  /** The alias list of the base tree's build: aliases beyond it become `alias` warnings. */
  baseAliases?: readonly NvheAlias[];
  crossCompile?: string;
  /** Shared by the steps of one series: objects that did not change are not read again. */
  memo?: ObjectMemo;
}

type Draft = Omit<Finding, "key">;

/** Objects read at once: binutils on two cores. */
const TWO = { concurrency: 2 };

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readUntrustedFile(file);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new CheckInputError(file, `cannot read ${what}: ${reason}`);
  }
}

/** The nVHE alias list of a build, read from its preprocessed `vmlinux.lds`. */
export async function readNvheAliases(buildDir: string): Promise<NvheAlias[]> {
  const lds = await readText(
    path.join(buildDir, VMLINUX_LDS),
    `${VMLINUX_LDS} (build it with \`make ${VMLINUX_LDS}\`)`,
  );
  return parseNvheAliases(lds);
}

/** The partial links whose `.cmd` lists the per-file nVHE objects, newest layout first. */
const NVHE_PARTIAL_LINKS = ["kvm_nvhe.tmp.o", "hyp.tmp.o"];

/**
 * The per-file objects linked into kvm_nvhe.o, as the partial link's Kbuild command names
 * them; failing that, every `*.nvhe.o` where the nVHE Makefile puts them.
 */
async function nvheLinkInputs(buildDir: string): Promise<string[]> {
  for (const link of NVHE_PARTIAL_LINKS) {
    const text = await readUntrustedFile(
      path.join(buildDir, cmdFileOf(`${NVHE_DIR}/${link}`)),
    ).catch(() => null);
    const cmd = text === null ? null : parseKbuildCmd(text);
    // `nvhe/../x.nvhe.o` is reported as the object it is: `x.nvhe.o` beside nvhe/.
    if (cmd) return linkInputs(cmd.argv).map((p) => path.posix.normalize(p));
  }
  const found: string[] = [];
  for (const dir of [NVHE_DIR, "arch/arm64/kvm/hyp", "arch/arm64/lib"]) {
    const names = await readdir(path.join(buildDir, dir)).catch(() => [] as string[]);
    found.push(...names.filter((n) => n.endsWith(".nvhe.o")).map((n) => `${dir}/${n}`));
  }
  if (found.length === 0) {
    throw new CheckInputError(path.join(buildDir, NVHE_DIR), "no nVHE objects (build it first)");
  }
  return found;
}

interface NvheObject {
  /** As named in the link command, relative to the build dir. */
  path: string;
  info: ObjectInfo;
  cmd: KbuildCommand | null;
  /** The source file relative to the tree. */
  source: string | null;
}

/** Every hyp-safety problem of a modern-era build. Throws CheckInputError when it cannot look. */
export async function analyzeModernBuild(input: ModernBuildInput): Promise<Finding[]> {
  const { srcDir, buildDir, config } = input;
  const opts: BinutilsOptions = { cwd: buildDir, crossCompile: input.crossCompile };
  const memo = input.memo ?? new ObjectMemo();

  const inputs = await nvheLinkInputs(buildDir);
  const aliases = await readNvheAliases(buildDir);
  const aliased = new Set(aliases.map((a) => a.name));
  const makefile = await readText(path.join(srcDir, NVHE_MAKEFILE), "the nVHE Makefile");

  const undefinedNames = parseUndefinedSymbols(await listUndefinedSymbols(NVHE_OBJECT, opts));
  const unaliased = undefinedNames
    .map((n) => (n.startsWith(NVHE_PREFIX) ? n.slice(NVHE_PREFIX.length) : n))
    .filter((n) => !aliased.has(n));
  const forbidden = new Set(unaliased.filter((n) => instrumentationOfSymbol(n) === null));

  const infos = await memo.getMany("object", inputs, opts, (paths) => readObjects(paths, opts));
  const objects: NvheObject[] = await pMap(
    inputs,
    async (p, i) => {
      const info = infos[i] as ObjectInfo;
      // Objects without a .cmd file (hand-built dirs) are still judged, just without flags.
      const cmdText = await readUntrustedFile(path.join(buildDir, cmdFileOf(p))).catch(() => null);
      const cmd: KbuildCommand | null = cmdText === null ? null : parseKbuildCmd(cmdText);
      const source = cmd?.source ? treeRelative(cmd.source, srcDir, buildDir) : null;
      return { path: p, info, cmd, source };
    },
    TWO,
  );

  const drafts: Draft[] = [];
  drafts.push(
    ...(await symbolFindings(objects, forbidden, { srcDir, buildDir, config }, opts, memo)),
  );
  // Sections an instrumentation explains (`object|section`) are reported with it.
  const claimed = new Set<string>();
  drafts.push(
    ...(await instrumentationFindings(
      objects,
      makefile,
      claimed,
      { srcDir, buildDir, config },
      opts,
      memo,
    )),
  );
  const kvm = await readObject(NVHE_OBJECT, opts);
  drafts.push(...sectionFindings(kvm, objects, claimed, config));
  // The second judge: ld itself, on kvm_nvhe.o against the alias list.
  const link = await judgeNvheLink(NVHE_OBJECT, aliases, opts);
  const added = input.baseAliases ? newAliases(input.baseAliases, aliases) : [];
  const imageVars =
    added.length > 0 || link.broken.length > 0
      ? await readContained(srcDir, path.join(srcDir, IMAGE_VARS)).catch(() => null)
      : null;
  const covered = new Set(unaliased);
  drafts.push(
    ...linkFindings(link, { srcDir, buildDir, config, object: NVHE_OBJECT, covered, imageVars }),
  );
  const findings = findingKeys(drafts);
  if (added.length > 0) findings.push(...aliasFindings(added, config, imageVars));
  return findings;
}

interface Ctx {
  srcDir: string;
  buildDir: string;
  config: string;
}

/**
 * The site moved to the line that names `symbol` (see `namingFrame`): when the line table
 * put the reference at its use a line or two below, or inside an inlined helper the
 * address was handed to, whose caller is then where the chain starts. Each source is read
 * from the tree once.
 */
async function atNamingLine(
  site: SourceSite,
  symbol: string,
  srcDir: string,
  sources: Map<string, Promise<string | null>>,
): Promise<SourceSite> {
  const read = (file: string | null) => {
    if (!file || file === "??" || path.isAbsolute(file)) return Promise.resolve(null);
    let source = sources.get(file);
    if (!source) {
      source = readContained(srcDir, path.join(srcDir, file)).catch(() => null);
      sources.set(file, source);
    }
    return source;
  };
  const chain: InlineFrame[] =
    site.chain.length > 0
      ? site.chain
      : site.file
        ? [{ function: site.function ?? "?", file: site.file, line: site.line }]
        : [];
  const frames = await Promise.all(
    chain.map(async (f) => ({ line: f.line, source: await read(f.file) })),
  );
  const named = namingFrame(frames, symbol);
  const frame = named ? chain[named.index] : undefined;
  if (!named || !frame || (named.index === 0 && named.line === frame.line)) return site;
  const from = [{ ...frame, line: named.line }, ...chain.slice(named.index + 1)];
  return {
    ...site,
    chain: site.chain.length > 0 ? from : [],
    file: frame.file,
    line: named.line,
  };
}

/** A table entry's site, from the first frame outside the headers that write the entry. */
function outsideMachinery(table: string, site: SourceSite): SourceSite {
  const chain = beyondMachinery(table, site.chain);
  const inner = chain[0];
  if (!inner || inner === site.chain[0] || inner.file === "??") return site;
  return { ...site, chain, file: inner.file, line: inner.line };
}

/** A direct call or tail call to a function of the same object: `bl 0 <__get_fault_info>`. */
const CALL = /^bl?\s+[0-9a-f]+ <([^+>]+)>$/;

/**
 * What the checks read of an object's disassembly (kept instead of all of it): its direct
 * calls and its shadow-call-stack pushes and pops. One objdump serves both.
 */
interface InstructionsOfInterest {
  calls: DisassembledInstruction[];
  shadowCallStack: DisassembledInstruction[];
}

function ofInterest(insns: readonly DisassembledInstruction[]): InstructionsOfInterest {
  return {
    calls: insns.filter((insn) => CALL.test(insn.text)),
    shadowCallStack: insns.filter((insn) => isShadowCallStackInstruction(insn.text)),
  };
}

/**
 * The calls in `obj` to each of `functions` that the compiler emitted out of line (local
 * functions: a header's `static inline` helper or a static function of the file), each
 * resolved to its inline chain.
 */
async function callersOf(
  obj: NvheObject,
  functions: ReadonlySet<string>,
  ctx: Ctx,
  opts: BinutilsOptions,
  memo: ObjectMemo,
): Promise<Map<string, InlineFrame[][]>> {
  const local = new Set(
    obj.info.symbols
      .filter((s) => s.type === "FUNC" && s.bind === "LOCAL" && functions.has(s.name))
      .map((s) => s.name),
  );
  const out = new Map<string, InlineFrame[][]>();
  if (local.size === 0) return out;
  const calls = (
    await memo.get("instructions", obj.path, opts, async (p) =>
      ofInterest((await readInstructions([p], opts))[0] ?? []),
    )
  ).calls.filter((insn) => local.has(CALL.exec(insn.text)?.[1] ?? ""));
  const sites = await resolveSites(
    obj.info,
    calls,
    { srcDir: ctx.srcDir, buildDir: ctx.buildDir, fallbackFile: obj.source },
    opts,
  );
  for (const call of calls) {
    const callee = CALL.exec(call.text)?.[1] ?? "";
    const site = sites.find((s) => s.section === call.section && s.offset === call.offset);
    if (!site || site.chain.length === 0) continue;
    out.set(callee, [...(out.get(callee) ?? []), site.chain]);
  }
  return out;
}

async function symbolFindings(
  objects: readonly NvheObject[],
  forbidden: ReadonlySet<string>,
  ctx: Ctx,
  opts: BinutilsOptions,
  memo: ObjectMemo,
): Promise<Draft[]> {
  const drafts: Draft[] = [];
  const located = new Set<string>();
  for (const obj of objects) {
    const relocs = obj.info.relocations.filter((r) => {
      const section = obj.info.sections.find((s) => s.name === r.section);
      return (
        section?.alloc === true && forbidden.has(r.symbol) && isUndefinedIn(obj.info, r.symbol)
      );
    });
    if (relocs.length === 0) continue;
    // A reference held in a table entry (a static key's, an alternative callback's) is
    // written at the code the entry points to.
    const placeOf = (r: Relocation) =>
      codePlaceOf(r, obj.info.relocations, obj.info.sections, obj.info.symbols) ?? r;
    const sites = await resolveSites(
      obj.info,
      relocs.map(placeOf),
      { srcDir: ctx.srcDir, buildDir: ctx.buildDir, fallbackFile: obj.source },
      opts,
    );
    const seen = new Set<string>();
    const own: Draft[] = [];
    const sources = new Map<string, Promise<string | null>>();
    for (const r of relocs) {
      const at = placeOf(r);
      const resolved = sites.find((s) => s.section === at.section && s.offset === at.offset);
      if (!resolved) continue;
      const placed = at === r ? resolved : outsideMachinery(r.section, resolved);
      const site = await atNamingLine(placed, r.symbol, ctx.srcDir, sources);
      // An adrp/add pair or a repeated call on one line is one reference.
      const identity = `${r.symbol}@${JSON.stringify(site.chain)}@${site.function}`;
      if (seen.has(identity)) continue;
      seen.add(identity);
      located.add(r.symbol);
      const where = site.file ? `${site.file}${site.line ? `:${site.line}` : ""}` : obj.path;
      const inlined =
        site.chain.length > 1
          ? ` (inlined from ${site.chain[0]?.function} into ${site.function})`
          : "";
      const through = at === r ? "" : ` through its ${r.section} entry`;
      own.push({
        rule: RULES.undefinedSymbol,
        severity: "error",
        kind: "symbol",
        symbol: r.symbol,
        file: site.file,
        line: site.line,
        function: site.function,
        inlineChain: site.chain,
        config: ctx.config,
        message: `nVHE function ${site.function ?? "?"} references kernel symbol ${r.symbol}${through} at ${where}${inlined}; nothing aliases __kvm_nvhe_${r.symbol}, so it cannot link (and must not run at EL2)`,
        object: obj.path,
        section: r.section,
      });
    }
    const outlined = await callersOf(
      obj,
      new Set(own.flatMap((d) => (d.function ? [d.function] : []))),
      ctx,
      opts,
      memo,
    );
    for (const d of own) {
      const callers = d.function ? outlined.get(d.function) : undefined;
      drafts.push(callers ? { ...d, callers } : d);
    }
  }
  for (const symbol of forbidden) {
    if (located.has(symbol)) continue;
    drafts.push({
      rule: RULES.undefinedSymbol,
      severity: "error",
      kind: "symbol",
      symbol,
      file: null,
      line: null,
      function: null,
      inlineChain: [],
      config: ctx.config,
      message: `${NVHE_OBJECT} needs __kvm_nvhe_${symbol}, which nothing aliases (no per-file relocation names it)`,
      object: NVHE_OBJECT,
    });
  }
  return drafts;
}

interface InstrumentationSite {
  name: InstrumentationName;
  section: string;
  offset: number;
  function: string | null;
}

async function instrumentationFindings(
  objects: readonly NvheObject[],
  makefile: string,
  claimed: Set<string>,
  ctx: Ctx,
  opts: BinutilsOptions,
  memo: ObjectMemo,
): Promise<Draft[]> {
  const drafts: Draft[] = [];
  const instructions = await memo.getMany(
    "instructions",
    objects.map((o) => o.path),
    opts,
    async (paths) => (await readInstructions(paths, opts)).map(ofInterest),
  );
  objects.forEach((obj, i) => {
    const sites: InstrumentationSite[] = [];
    for (const insn of instructions[i]?.shadowCallStack ?? []) {
      sites.push({
        name: "shadow-call-stack",
        section: insn.section,
        offset: insn.offset,
        function: insn.function,
      });
    }
    for (const r of obj.info.relocations) {
      const name = instrumentationOfSymbol(r.symbol);
      const section = obj.info.sections.find((s) => s.name === r.section);
      if (name && section?.alloc && isUndefinedIn(obj.info, r.symbol)) {
        sites.push({ name, section: r.section, offset: r.offset, function: null });
      }
    }
    for (const s of obj.info.sections) {
      const name = instrumentationOfSection(s.name);
      if (name && s.size > 0) sites.push({ name, section: s.name, offset: 0, function: null });
      const ctor =
        obj.cmd && isConstructorSection(s.name) ? constructorInstrumentation(obj.cmd.argv) : null;
      if (ctor && s.size > 0) {
        sites.push({ name: ctor, section: s.name, offset: 0, function: null });
        claimed.add(`${obj.path}|${s.name}`);
      }
    }
    const byName = new Map<InstrumentationName, InstrumentationSite[]>();
    for (const s of sites) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
    for (const [name, group] of byName) {
      const flags = obj.cmd ? enablingFlags(obj.cmd.argv, name) : [];
      const guard = makefileGuard(makefile, NVHE_MAKEFILE, name, path.posix.basename(obj.path));
      const functions = [
        ...new Set(group.map((s) => s.function ?? functionAt(obj.info, s)).filter((f) => f)),
      ];
      const shown = functions.slice(0, 3).join(", ") + (functions.length > 3 ? ", ..." : "");
      const flagText =
        flags.length > 0
          ? `compiled with ${flags.join(" ")}`
          : "no enabling flag in its Kbuild command";
      drafts.push({
        rule: RULES.instrumentation,
        severity: "error",
        kind: "instrumentation",
        symbol: name,
        file: obj.source,
        line: null,
        function: null,
        inlineChain: [],
        config: ctx.config,
        message: `${name} instrumentation in nVHE object ${obj.path}${shown ? ` (${shown})` : ""}: ${flagText}; ${guard.note}`,
        object: obj.path,
        section: group[0]?.section,
        flags,
        makefile: guard,
        occurrences: functions.length || group.length,
      });
    }
  });
  return drafts;
}

function functionAt(info: ObjectInfo, site: InstrumentationSite): string | null {
  const section = info.sections.find((s) => s.name === site.section);
  if (!section?.exec) return null;
  let best: string | null = null;
  let bestValue = -1;
  for (const sym of info.symbols) {
    if (sym.type !== "FUNC" || sym.ndx !== String(section.index)) continue;
    if (sym.value <= site.offset && sym.value > bestValue) {
      best = sym.name;
      bestValue = sym.value;
    }
  }
  return best;
}

function sectionFindings(
  kvm: ObjectInfo,
  objects: readonly NvheObject[],
  claimed: ReadonlySet<string>,
  config: string,
): Draft[] {
  const drafts: Draft[] = [];
  for (const section of kvm.sections) {
    if (!section.alloc || section.size === 0) continue;
    if (section.name.startsWith(".hyp.") || NVHE_SECTION_ALLOWLIST.includes(section.name)) continue;
    if (instrumentationOfSection(section.name)) continue;
    const holders = objects.filter((o) =>
      o.info.sections.some((s) => s.name === section.name && s.size > 0),
    );
    const sources = holders.filter((o) => !claimed.has(`${o.path}|${section.name}`));
    if (holders.length > 0 && sources.length === 0) continue;
    if (sources.length === 0) {
      drafts.push(sectionDraft(section.name, NVHE_OBJECT, null, [], config));
      continue;
    }
    for (const obj of sources) {
      const index = obj.info.sections.find((s) => s.name === section.name)?.index;
      const symbols = obj.info.symbols.filter(
        (s) => s.ndx === String(index) && (s.type === "FUNC" || s.type === "OBJECT"),
      );
      drafts.push(sectionDraft(section.name, obj.path, obj.source, symbols, config));
    }
  }
  return drafts;
}

function sectionDraft(
  section: string,
  object: string,
  file: string | null,
  symbols: readonly { name: string; type: string }[],
  config: string,
): Draft {
  const names = symbols.map((s) => s.name);
  const what =
    names.length > 0
      ? ` (${names.slice(0, 5).join(", ")}${names.length > 5 ? ", ..." : ""})`
      : " (compiler-generated, no named symbol)";
  // A function placed there is where the problem is; a data object is named in the message.
  const only = symbols.length === 1 ? symbols[0] : undefined;
  return {
    rule: RULES.unmappedSection,
    severity: "error",
    kind: "section",
    symbol: section,
    file,
    line: null,
    function: only?.type === "FUNC" ? only.name : null,
    inlineChain: [],
    config,
    message: `nVHE object ${object} puts code or data in section ${section}${what}, which hyp.lds does not map into .hyp.*: it is not mapped at EL2`,
    object,
    section,
    occurrences: symbols.length,
    contents: names,
  };
}
