/**
 * Legacy era (v4.6 .. v5.8, `__hyp_text`): hyp code is whatever sits in `.hyp.text` and
 * `.hyp.idmap.text`; every relocation from there must stay inside the hyp sections.
 */
import { mkdir } from "node:fs/promises";
import { readContained } from "../io/untrusted.js";
import path from "node:path";
import type { BinutilsOptions } from "../io/binutils.js";
import { compileObject } from "../io/compiler.js";
import { findingKeys } from "./diff.js";
import type { ElfSymbol } from "./elf.js";
import { readObjects, resolveSites, type ObjectInfo } from "./objects.js";
import { RULES, type Finding } from "./types.js";

type Draft = Omit<Finding, "key">;

/** Sections whose code runs at EL2 in a legacy tree. */
export function isHypTextSection(name: string): boolean {
  return name === ".hyp.text" || name === ".hyp.idmap.text" || name.startsWith(".hyp.text.");
}

/**
 * Where hyp code may point. Besides the hyp sections, the kernel's read-only data was
 * mapped at EL2 in legacy kernels (init_hyp_mode maps __start_rodata..__end_rodata), so
 * PC-relative references to string literals and jump tables there are safe.
 */
function isHypReachable(section: string): boolean {
  return section.startsWith(".hyp.") || section === ".rodata" || section.startsWith(".rodata.");
}

const CALLS = new Set(["R_AARCH64_CALL26", "R_AARCH64_JUMP26"]);

/** The source name of a gcc clone (`helper.isra.0`, `helper.constprop.1`, `helper.part.0`). */
export function sourceFunctionName(symbol: string): string {
  return symbol.replace(/\.(?:isra|constprop|part|cold|lto_priv)(?:\.\d+)*.*$/, "");
}

export interface LegacyObjectsInput {
  /** The hyp objects of one build, relative to `cwd` or absolute. Calls between them are fine. */
  objects: string[];
  cwd?: string;
  /** The source tree: file names are reported relative to it, and sources read from it. */
  srcDir: string;
  /** Name of the build configuration (or compiler settings), copied into each finding. */
  config: string;
  crossCompile?: string;
}

interface Target {
  /** What the reference reaches: the symbol, or the function at a section offset. */
  name: string;
  /** Its section, or null when undefined in every object given. */
  section: string | null;
  /** The defining object and symbol when it is a local function of the same object. */
  localFunction: ElfSymbol | null;
}

function resolveTarget(
  obj: ObjectInfo,
  symbol: string,
  addend: number,
  hypGlobals: ReadonlyMap<string, string>,
): Target {
  const section = obj.sections.find((s) => s.name === symbol);
  const sectionSym = obj.symbols.find((s) => s.type === "SECTION" && s.name === symbol);
  if (section && sectionSym) {
    // A section symbol (`.text + 0x10`): name the function at that offset.
    const fn = obj.symbols.find(
      (s) => s.type === "FUNC" && s.ndx === String(section.index) && s.value === addend,
    );
    return {
      name: fn ? sourceFunctionName(fn.name) : `${symbol}+0x${addend.toString(16)}`,
      section: symbol,
      localFunction: fn ?? null,
    };
  }
  const defined = obj.symbols.find((s) => s.name === symbol && /^\d+$/.test(s.ndx));
  if (defined) {
    const sec = obj.sections.find((s) => String(s.index) === defined.ndx);
    return {
      name: sourceFunctionName(symbol),
      section: sec?.name ?? null,
      localFunction: defined.bind === "LOCAL" && defined.type === "FUNC" ? defined : null,
    };
  }
  return { name: symbol, section: hypGlobals.get(symbol) ?? null, localFunction: null };
}

/** Whether the source declares `fn` inline: its definition line or the two above it say so. */
export function declaredInline(source: string, line: number, fn: string): boolean {
  const lines = source.split("\n");
  const nameRe = new RegExp(`\\b${fn.replace(/[$]/g, "\\$")}\\s*\\(`);
  for (let i = line - 1; i >= Math.max(0, line - 4); i--) {
    if (!nameRe.test(lines[i] ?? "")) continue;
    const window = lines.slice(Math.max(0, i - 2), i + 1).join("\n");
    return /\b(?:inline|__inline|__inline__)\b/.test(window);
  }
  return false;
}

/** Every legacy-era hyp finding of a set of objects built together. */
export async function analyzeLegacyObjects(input: LegacyObjectsInput): Promise<Finding[]> {
  const opts: BinutilsOptions = { cwd: input.cwd, crossCompile: input.crossCompile };
  const objects = await readObjects(input.objects, opts);

  const hypGlobals = new Map<string, string>();
  for (const obj of objects) {
    for (const sym of obj.symbols) {
      if (sym.bind === "LOCAL" || !/^\d+$/.test(sym.ndx)) continue;
      const section = obj.sections.find((s) => String(s.index) === sym.ndx);
      if (section && isHypReachable(section.name)) hypGlobals.set(sym.name, section.name);
    }
  }

  const drafts: Draft[] = [];
  for (const obj of objects) {
    const refs = obj.relocations
      .filter((r) => isHypTextSection(r.section))
      .map((r) => ({ reloc: r, target: resolveTarget(obj, r.symbol, r.addend, hypGlobals) }))
      .filter((x) => x.target.section === null || !isHypReachable(x.target.section));
    if (refs.length === 0) continue;
    const ctx = { srcDir: input.srcDir, buildDir: input.cwd, fallbackFile: null };
    const sites = await resolveSites(
      obj,
      refs.map((x) => x.reloc),
      ctx,
      opts,
    );
    const outlined = await outlinedInlines(obj, refs, input, opts);
    const seen = new Set<string>();
    for (const { reloc, target } of refs) {
      const site = sites.find((s) => s.section === reloc.section && s.offset === reloc.offset);
      if (!site) continue;
      const call = CALLS.has(reloc.type);
      const identity = `${target.name}@${call}@${JSON.stringify(site.chain)}@${site.function}`;
      if (seen.has(identity)) continue;
      seen.add(identity);
      const where = `${site.file ?? obj.path}${site.line ? `:${site.line}` : ""}`;
      const inline = target.localFunction ? outlined.get(target.name) : undefined;
      const base = {
        symbol: target.name,
        file: site.file,
        line: site.line,
        function: site.function,
        inlineChain: site.chain,
        config: input.config,
        object: obj.path,
        section: reloc.section,
      };
      if (call && inline) {
        drafts.push({
          ...base,
          rule: RULES.outlinedInline,
          severity: "error",
          kind: "outlined-inline",
          message: `static inline ${target.name} (${inline}) was emitted out of line into ${target.section} and hyp function ${site.function ?? "?"} calls it at ${where}; make it __always_inline`,
        });
      } else if (call) {
        const what = target.section === null ? "kernel function" : `function in ${target.section}`;
        drafts.push({
          ...base,
          rule: RULES.legacyCall,
          severity: "error",
          kind: "symbol",
          message: `hyp function ${site.function ?? "?"} calls ${what} ${target.name} at ${where}, outside the hyp sections`,
        });
      } else {
        const what = target.section === null ? "undefined symbol" : `symbol in ${target.section}`;
        drafts.push({
          ...base,
          rule: RULES.legacyReference,
          severity: "warning",
          kind: "symbol",
          message: `hyp function ${site.function ?? "?"} refers to ${what} ${target.name} at ${where}, outside the hyp sections (${reloc.type})`,
        });
      }
    }
  }
  return findingKeys(drafts);
}

/** The local functions among `refs` that the source declares inline, with their location. */
async function outlinedInlines(
  obj: ObjectInfo,
  refs: readonly { target: Target }[],
  input: LegacyObjectsInput,
  opts: BinutilsOptions,
): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  const fns = new Map<string, ElfSymbol>();
  for (const { target } of refs) {
    if (target.localFunction) fns.set(target.localFunction.name, target.localFunction);
  }
  for (const fn of fns.values()) {
    const section = obj.sections.find((s) => String(s.index) === fn.ndx);
    if (!section) continue;
    const [site] = await resolveSites(
      obj,
      [{ section: section.name, offset: fn.value }],
      { srcDir: input.srcDir, buildDir: input.cwd, fallbackFile: null },
      opts,
    );
    const frame = site?.chain[site.chain.length - 1];
    if (!frame || frame.file === "??" || frame.line === null) continue;
    const file = path.isAbsolute(frame.file) ? frame.file : path.join(input.srcDir, frame.file);
    // DWARF names whatever path the build wrote into it: read only the worktree's files.
    const source = await readContained(input.srcDir, file).catch(() => null);
    const name = sourceFunctionName(fn.name);
    if (source !== null && declaredInline(source, frame.line, name)) {
      result.set(name, `${frame.file}:${frame.line}`);
    }
  }
  return result;
}

/** Compiler settings a legacy check runs under. */
export interface LegacyVariant {
  name: string;
  flags: string[];
}

/**
 * The settings that outline more than the default: `-Os`, and `-fno-inline`, which still
 * honours `always_inline`, to expose plain `static inline` helpers called from hyp code.
 */
export const LEGACY_VARIANTS: readonly LegacyVariant[] = [
  { name: "-O2", flags: ["-O2"] },
  { name: "-Os", flags: ["-Os"] },
  { name: "-O2 -fno-inline", flags: ["-O2", "-fno-inline"] },
];

export type LegacyVerdict =
  | { variant: string; status: "checked"; findings: Finding[] }
  /** The sources do not build under these settings: no finding either way. */
  | { variant: string; status: "no-verdict"; source: string; reason: string };

export interface LegacySourcesInput {
  /** C and assembly sources, relative to `srcDir` or absolute. */
  sources: string[];
  srcDir: string;
  /** Where objects are written, one subdirectory per variant. */
  outDir: string;
  /** Flags for every variant (`-g` and include paths; debug info maps sites to lines). */
  flags: string[];
  variants?: readonly LegacyVariant[];
  crossCompile?: string;
}

/** Compile legacy-style hyp sources under each variant and judge the objects. */
export async function checkLegacySources(input: LegacySourcesInput): Promise<LegacyVerdict[]> {
  const verdicts: LegacyVerdict[] = [];
  for (const variant of input.variants ?? LEGACY_VARIANTS) {
    const dir = path.join(input.outDir, variant.name.replace(/[^A-Za-z0-9]+/g, "_"));
    await mkdir(dir, { recursive: true });
    const objects: string[] = [];
    let failure: { source: string; reason: string } | null = null;
    for (const source of input.sources) {
      const output = path.join(dir, path.basename(source).replace(/\.[cS]$/, ".o"));
      const result = await compileObject({
        source: path.resolve(input.srcDir, source),
        output,
        flags: [...variant.flags, ...input.flags],
        cwd: input.srcDir,
        crossCompile: input.crossCompile,
      });
      if (!result.ok) {
        const reason = result.stderr.split("\n").find((l) => /error/.test(l)) ?? "compiler failed";
        failure = { source, reason: reason.split(`${input.srcDir}/`).join("").trim() };
        break;
      }
      objects.push(output);
    }
    if (failure) {
      verdicts.push({ variant: variant.name, status: "no-verdict", ...failure });
      continue;
    }
    const findings = await analyzeLegacyObjects({
      objects,
      srcDir: input.srcDir,
      config: variant.name,
      crossCompile: input.crossCompile,
    });
    verdicts.push({ variant: variant.name, status: "checked", findings });
  }
  return verdicts;
}
