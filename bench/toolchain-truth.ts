/**
 * Ground truth for the mutation benchmark, read straight from a built tree with binutils
 * and kept apart from `src/check`: what the final vmlinux link would reject (`nm -u
 * kvm_nvhe.o` minus the `__kvm_nvhe_X = X` aliases of the built vmlinux.lds, and the
 * aliases whose nVHE target `ld` finds undefined when it links kvm_nvhe.o against them),
 * and the instrumentation each nVHE object carries (SCS prologues, sanitizer and
 * stack-protector calls, patchable function entries).
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { run } from "../src/io/exec.js";

const NM = "aarch64-linux-gnu-nm";
const OBJDUMP = "aarch64-linux-gnu-objdump";
const LD = "aarch64-linux-gnu-ld";
const NVHE = "arch/arm64/kvm/hyp/nvhe";
const PREFIX = "__kvm_nvhe_";

/** One thing the toolchain shows about a build, as `kind:name` (`symbol:kfree`). */
export type EvidenceItem = string;

export interface BuildEvidence {
  /** Undefined in kvm_nvhe.o and not aliased (instrumentation helpers excluded). */
  symbols: Set<string>;
  /** `name=target` of every `__kvm_nvhe_` assignment in vmlinux.lds. */
  aliases: Set<string>;
  /** Alias targets (without `__kvm_nvhe_`) that ld finds undefined in kvm_nvhe.o. */
  linkRejected: Set<string>;
  /** Allocatable sections of kvm_nvhe.o. */
  sections: Set<string>;
  /** Instrumentation name -> the nVHE objects (build-relative) that carry it. */
  instrumentation: Map<string, Set<string>>;
}

/** Sections only ftrace adds: evidence of ftrace, not sections to map. */
const FTRACE_SECTIONS = ["__patchable_function_entries", "__mcount_loc"];

/**
 * Constructor tables: kernel C code has none, sanitizers add them (KASAN registers its
 * globals from one). The instrumentation is the item; its tables are not listed apart.
 */
const isConstructorTable = (s: string) => /^\.(?:init_array|fini_array|ctors|dtors)\b/.test(s);

const INSTRUMENTATION_SYMBOLS: [RegExp, string][] = [
  [/^__(?:asan|kasan)_/, "kasan"],
  [/^__ubsan_/, "ubsan"],
  [/^__sanitizer_cov_/, "kcov"],
  [/^__stack_chk_/, "stack-protector"],
];

async function tool(file: string, args: string[], cwd: string): Promise<string> {
  const result = await run(file, args, { cwd, env: { LC_ALL: "C" } });
  if (result.exitCode !== 0)
    throw new Error(`${result.command}: ${result.stderr.trim().split("\n")[0] ?? "failed"}`);
  return result.stdout;
}

/** Symbol names from `nm <flag>` (`-u`: undefined, `--defined-only`: defined). */
async function symbolNames(flag: string, object: string, cwd: string): Promise<string[]> {
  return (await tool(NM, [flag, object], cwd))
    .split("\n")
    .map((l) => l.trim().split(/\s+/).pop() ?? "")
    .filter(Boolean);
}

/** Allocatable sections from `objdump -h` (name line, then a flags line). */
async function allocSections(object: string, cwd: string): Promise<string[]> {
  const lines = (await tool(OBJDUMP, ["-h", object], cwd)).split("\n");
  const out: string[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    const m = /^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s/.exec(lines[i] ?? "");
    if (m?.[1] && m[2] && /\bALLOC\b/.test(lines[i + 1] ?? "") && parseInt(m[2], 16) > 0)
      out.push(m[1]);
  }
  return out;
}

function instrumentationOf(symbol: string): string | null {
  return INSTRUMENTATION_SYMBOLS.find(([re]) => re.test(symbol))?.[1] ?? null;
}

/** The per-file nVHE objects of a build dir (`*.nvhe.o` where the nVHE Makefile puts them). */
async function nvheObjects(buildDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const dir of [NVHE, "arch/arm64/kvm/hyp", "arch/arm64/lib"]) {
    const names = await readdir(path.join(buildDir, dir)).catch(() => [] as string[]);
    out.push(...names.filter((n) => n.endsWith(".nvhe.o")).map((n) => `${dir}/${n}`));
  }
  return out.sort();
}

/**
 * The alias targets ld rejects: kvm_nvhe.o linked with the vmlinux link's flags against
 * the `__kvm_nvhe_` assignments of vmlinux.lds (kernel targets given a value, as the rest
 * of vmlinux would). ld stops at the first undefined symbol of an expression, so the
 * rejected assignment is set to 0 and the link run again.
 */
async function linkRejectedTargets(buildDir: string, lds: string): Promise<Set<string>> {
  const assignments = [...lds.matchAll(/^(__kvm_nvhe_\w+)\s*=\s*(\w+)\s*;/gm)].map((m) => [
    m[1] ?? "",
    m[2] ?? "",
  ]);
  const kernel = [...new Set(assignments.map(([, t]) => t ?? ""))].filter(
    (t) => !t.startsWith(PREFIX),
  );
  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-truth-link-"));
  const rejected = new Set<string>();
  try {
    for (let round = 0; round < 16; round++) {
      const lines = [
        ...kernel.map((t) => `PROVIDE(${t} = 0);`),
        ...assignments.map(([n, t]) => `${n} = ${rejected.has(t ?? "") ? "0" : t};`),
      ];
      await writeFile(path.join(dir, "a.lds"), `${lines.join("\n")}\n`);
      const flags = "-EL -maarch64elf --no-undefined -shared -Bsymbolic -z notext".split(" ");
      const args = [...flags, "-o", path.join(dir, "out"), path.join(dir, "a.lds")];
      const result = await run(LD, [...args, `${NVHE}/kvm_nvhe.o`], {
        cwd: buildDir,
        env: { LC_ALL: "C" },
      });
      const m = /undefined symbol `(__kvm_nvhe_\w+)' referenced in expression/.exec(result.stderr);
      if (!m?.[1] || rejected.has(m[1])) break;
      rejected.add(m[1]);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return new Set([...rejected].map((t) => t.slice(PREFIX.length)));
}

/** What the toolchain shows about the hyp objects of one build directory. */
export async function readBuildEvidence(buildDir: string): Promise<BuildEvidence> {
  const lds = await readFile(path.join(buildDir, "arch/arm64/kernel/vmlinux.lds"), "utf8");
  const aliases = new Set<string>();
  for (const m of lds.matchAll(/\b__kvm_nvhe_(\w+)\s*=\s*([\w.]+)\s*[;)]/g))
    if (m[1] && m[2]) aliases.add(`${m[1]}=${m[2]}`);
  const aliasNames = new Set([...aliases].map((a) => a.split("=")[0]));

  const symbols = new Set<string>();
  for (const raw of await symbolNames("-u", `${NVHE}/kvm_nvhe.o`, buildDir)) {
    const name = raw.startsWith(PREFIX) ? raw.slice(PREFIX.length) : raw;
    if (!aliasNames.has(name) && instrumentationOf(name) === null) symbols.add(name);
  }
  const sections = new Set(await allocSections(`${NVHE}/kvm_nvhe.o`, buildDir));
  const linkRejected = await linkRejectedTargets(buildDir, lds);

  const instrumentation = new Map<string, Set<string>>();
  const add = (name: string, object: string) =>
    instrumentation.set(name, new Set([...(instrumentation.get(name) ?? []), object]));
  for (const object of await nvheObjects(buildDir)) {
    for (const s of await symbolNames("-u", object, buildDir)) {
      const name = instrumentationOf(s);
      if (name) add(name, object);
    }
    // clang's KASAN gives every instrumented object a module constructor, even one with
    // no memory access to check and so no __asan_ call.
    if ((await symbolNames("--defined-only", object, buildDir)).includes("asan.module_ctor"))
      add("kasan", object);
    const own = await allocSections(object, buildDir);
    if (own.some((s) => FTRACE_SECTIONS.includes(s))) add("ftrace", object);
    const text = await tool(OBJDUMP, ["-d", "--no-show-raw-insn", object], buildDir);
    if (/\bstr\s+x30,\s*\[x18\],\s*#8\b/.test(text)) add("shadow-call-stack", object);
  }
  return { symbols, aliases, linkRejected, sections, instrumentation };
}

/** One verdict item of a configuration: what, and between which patches it exists. */
export interface TruthItem {
  rule: string;
  symbol: string;
  introducedBy: number;
  fixedBy: number | null;
  /** Instrumentation: the objects that carry it when it appears. */
  objects?: string[];
}

function items(
  e: BuildEvidence,
): Map<string, { rule: string; symbol: string; objects?: string[] }> {
  const out = new Map<string, { rule: string; symbol: string; objects?: string[] }>();
  for (const s of e.symbols) out.set(`symbol:${s}`, { rule: "hyp/undefined-symbol", symbol: s });
  for (const a of e.aliases) {
    const target = a.slice(a.indexOf("=") + 1);
    const symbol = target.startsWith(PREFIX) ? target.slice(PREFIX.length) : target;
    out.set(`alias:${a}`, { rule: "hyp/new-alias", symbol });
  }
  for (const s of e.linkRejected) out.set(`link:${s}`, { rule: "hyp/link-error", symbol: s });
  for (const s of e.sections)
    if (!s.startsWith(".hyp.") && !FTRACE_SECTIONS.includes(s) && !isConstructorTable(s))
      out.set(`section:${s}`, { rule: "hyp/unmapped-section", symbol: s });
  for (const [name, objects] of e.instrumentation)
    out.set(`instrumentation:${name}`, {
      rule: "hyp/instrumentation",
      symbol: name,
      objects: [...objects].sort(),
    });
  return out;
}

/**
 * What a series introduces, from the evidence of the base (`steps[0]`) and after each
 * patch: everything absent from the base, with the patch after which it first shows and
 * the first later patch after which it is gone.
 */
export function truthOfSteps(steps: readonly BuildEvidence[]): TruthItem[] {
  const perStep = steps.map(items);
  const base = perStep[0] ?? new Map();
  const open = new Map<string, TruthItem>();
  const out: TruthItem[] = [];
  for (let k = 1; k < perStep.length; k++) {
    const now = perStep[k] ?? new Map();
    for (const [key, item] of open)
      if (!now.has(key)) {
        item.fixedBy = k;
        open.delete(key);
      }
    for (const [key, item] of now) {
      if (base.has(key) || open.has(key)) continue;
      const t: TruthItem = { ...item, introducedBy: k, fixedBy: null };
      open.set(key, t);
      out.push(t);
    }
  }
  return out;
}
