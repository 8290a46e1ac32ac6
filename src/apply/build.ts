import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { gitOk } from "../io/git.js";
import {
  compilerVersion,
  DEFAULT_LIMITS,
  kbuildMake,
  kconfigEdit,
  type KbuildInvocation,
  type KbuildLimits,
} from "../io/kbuild.js";
import { detectEra, HYP_TARGETS } from "./era.js";
import type { Slot } from "./slots.js";
import {
  ConfigureError,
  type BuildConfigName,
  type Compiler,
  type ConfigReport,
  type HypBuildResult,
} from "./types.js";

interface BuildConfigDef {
  cc: Compiler;
  /** `scripts/config` edits applied to defconfig, before `olddefconfig`. */
  edits: string[];
  /** Options whose final state is checked and reported. */
  verify: string[];
}

/** Debug info for addr2line (file:line with inline chains), on top of defconfig's KVM=y. */
const DEBUG_EDITS = [
  "-e",
  "KVM",
  "-e",
  "DEBUG_INFO",
  "-d",
  "DEBUG_INFO_NONE",
  "-e",
  "DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT",
  "-d",
  "DEBUG_INFO_REDUCED",
  "-d",
  "DEBUG_INFO_SPLIT",
];
const DEBUG_VERIFY = ["KVM", "DEBUG_INFO", "DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT"];

/** Instrumentation that must not leak into hyp objects; Kconfig keeps what the compiler supports. */
const INSTRUMENT_EDITS = [
  ["SHADOW_CALL_STACK"],
  ["KASAN", "KASAN_GENERIC", "KASAN_OUTLINE"],
  ["UBSAN", "UBSAN_BOUNDS", "UBSAN_SHIFT", "UBSAN_DIV_ZERO", "UBSAN_BOOL", "UBSAN_ENUM"],
  ["KCOV"],
  ["FTRACE", "FUNCTION_TRACER", "DYNAMIC_FTRACE"],
  ["STACKPROTECTOR", "STACKPROTECTOR_STRONG"],
]
  .flat()
  .flatMap((o) => ["-e", o])
  .concat(["-d", "KASAN_INLINE"]);
const INSTRUMENT_VERIFY = [
  "SHADOW_CALL_STACK",
  "KASAN",
  "KASAN_GENERIC",
  "KASAN_OUTLINE",
  "UBSAN",
  "UBSAN_BOUNDS",
  "UBSAN_SHIFT",
  "UBSAN_DIV_ZERO",
  "UBSAN_BOOL",
  "UBSAN_ENUM",
  "KCOV",
  "FUNCTION_TRACER",
  "DYNAMIC_FTRACE",
  "DYNAMIC_FTRACE_WITH_REGS",
  "STACKPROTECTOR_STRONG",
];

const PLAIN = { edits: DEBUG_EDITS, verify: DEBUG_VERIFY };
const INSTRUMENTED = {
  edits: [...DEBUG_EDITS, ...INSTRUMENT_EDITS],
  verify: [...DEBUG_VERIFY, ...INSTRUMENT_VERIFY],
};

export const BUILD_CONFIGS: Record<BuildConfigName, BuildConfigDef> = {
  defconfig: { cc: "gcc", ...PLAIN },
  instrumented: { cc: "gcc", ...INSTRUMENTED },
  "clang-defconfig": { cc: "clang", ...PLAIN },
  "clang-instrumented": { cc: "clang", ...INSTRUMENTED },
};

/** Thrown when a configuration's compiler is not installed. */
export class CompilerMissingError extends Error {
  constructor(readonly config: BuildConfigName) {
    super(`${config} needs ${BUILD_CONFIGS[config].cc}, which is not installed`);
    this.name = "CompilerMissingError";
  }
}

/** The options a `.config` sets to `y` (without the `CONFIG_` prefix). */
export function enabledOptions(dotConfig: string): Set<string> {
  const out = new Set<string>();
  for (const m of dotConfig.matchAll(/^CONFIG_(\w+)=y$/gm)) if (m[1]) out.add(m[1]);
  return out;
}

/**
 * The targets make gave up on, from `make[N]: *** [<makefile>:<line>: <target>] Error N`
 * lines, innermost first as make prints them.
 */
export function failedMakeTargets(log: string): string[] {
  const out = new Set<string>();
  for (const m of log.matchAll(/^make(?:\[\d+\])?: \*\*\* \[(?:[^\]]*?:\d+: )?([^\]]+)\] Error/gm))
    if (m[1]) out.add(m[1].trim());
  return [...out];
}

interface Stamp {
  configHash: string;
  report: ConfigReport;
  /** The commit the build directory was last built for; null when never built. */
  lastBuilt: string | null;
}

/** Identity of a configuration: its edits and the compiler that will build it. */
export async function configHash(name: BuildConfigName): Promise<string> {
  const def = BUILD_CONFIGS[name];
  const cc = await compilerVersion(def.cc);
  if (!cc) throw new CompilerMissingError(name);
  return createHash("sha256")
    .update(JSON.stringify({ name, edits: def.edits, cc }))
    .digest("hex")
    .slice(0, 16);
}

async function readStamp(file: string): Promise<Stamp | null> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as Stamp;
  } catch {
    return null;
  }
}

export interface BuildOptions {
  limits?: Partial<KbuildLimits>;
  /** Override the era's targets (tests build a single object or a probe). */
  targets?: string[];
}

function logFile(slot: Slot, name: string, step: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  return path.join(slot.logDir, `${stamp}-${name}-${step}.log`);
}

/**
 * Configure an empty build directory: defconfig, the configuration's edits, olddefconfig;
 * then read the resulting .config to report what was actually enabled.
 */
async function configure(
  inv: KbuildInvocation,
  name: BuildConfigName,
  hash: string,
): Promise<ConfigReport> {
  const def = BUILD_CONFIGS[name];
  const steps: [string, () => ReturnType<typeof kbuildMake>][] = [
    ["defconfig", () => kbuildMake(inv, ["defconfig"])],
    ["scripts/config", () => kconfigEdit(inv, def.edits)],
    ["olddefconfig", () => kbuildMake(inv, ["olddefconfig"])],
  ];
  for (const [step, fn] of steps) {
    const result = await fn();
    if (result.exitCode !== 0)
      throw new ConfigureError(
        name,
        inv.logPath,
        result.timedOut ? `${step} timed out` : `${step} failed`,
      );
  }
  const enabled = enabledOptions(await readFile(path.join(inv.buildDir, ".config"), "utf8"));
  return {
    name,
    hash,
    requested: def.verify,
    enabled: def.verify.filter((o) => enabled.has(o)),
    unavailable: def.verify.filter((o) => !enabled.has(o)),
  };
}

/**
 * Build the hyp objects of the slot's worktree, as it is now, in the slot's build directory
 * for configuration `name`. The directory is reused while its configuration hash matches
 * (only what changed since its last build is rebuilt); otherwise it is emptied and
 * configured afresh. Everything make runs is sandboxed (see io/sandbox.ts).
 */
export async function buildHyp(
  slot: Slot,
  name: BuildConfigName,
  opts: BuildOptions = {},
): Promise<HypBuildResult> {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const era = await detectEra(slot.src);
  const head = (await gitOk(slot.src, ["rev-parse", "HEAD"])).trim();
  const buildDir = path.join(slot.buildRoot, name);
  const stampFile = path.join(slot.buildRoot, `${name}.stamp.json`);
  const hash = await configHash(name);
  let stamp = await readStamp(stampFile);
  if (!stamp || stamp.configHash !== hash) {
    await rm(buildDir, { recursive: true, force: true });
    await mkdir(buildDir, { recursive: true });
    const logPath = logFile(slot, name, "config");
    const inv = { srcDir: slot.src, buildDir, limits, logPath, cc: BUILD_CONFIGS[name].cc };
    stamp = { configHash: hash, report: await configure(inv, name, hash), lastBuilt: null };
    await writeFile(stampFile, JSON.stringify(stamp, null, 2));
  }
  const incremental = stamp.lastBuilt !== null;
  const targets = opts.targets ?? [...HYP_TARGETS[era]];
  const logPath = logFile(slot, name, "build");
  const cc = BUILD_CONFIGS[name].cc;
  const result = await kbuildMake({ srcDir: slot.src, buildDir, limits, logPath, cc }, targets);
  const ok = result.exitCode === 0 && !result.timedOut;
  const failedTargets = ok ? [] : failedMakeTargets(await readFile(logPath, "utf8"));
  // make deletes a half-written target when a command fails, but a build killed for its
  // time limit may leave truncated objects newer than their sources: start that one afresh.
  if (result.timedOut) await rm(stampFile, { force: true });
  else await writeFile(stampFile, JSON.stringify({ ...stamp, lastBuilt: head }, null, 2));
  return {
    config: name,
    era,
    head,
    buildDir,
    targets,
    ok,
    timedOut: result.timedOut,
    failedTargets,
    logPath,
    durationMs: result.durationMs,
    incremental,
    configReport: stamp.report,
  };
}
