import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { copyTree, readUntrustedFile, removeSpecialFiles } from "../io/untrusted.js";
import { gitOk } from "../io/git.js";
import {
  CCACHE_LOG,
  ccacheCounts,
  ccacheInstalled,
  compilerVersion,
  DEFAULT_LIMITS,
  kbuildMake,
  kconfigEdit,
  type CompilerCache,
  type KbuildInvocation,
  type KbuildLimits,
} from "../io/kbuild.js";
import { detectEra, HYP_TARGETS } from "./era.js";
import { OPTION_CONFIGS, type OptionConfigDef } from "./option-configs.js";
import type { Slot } from "./slots.js";
import {
  ConfigureError,
  type BuildConfigName,
  type Compiler,
  type ConfigReport,
  type HypBuildResult,
} from "./types.js";
import { HypwatchError } from "../errors.js";

interface BuildConfigDef {
  cc: Compiler;
  /** Why the configuration exists: what it can see that the others cannot. */
  reason: string;
  /** `scripts/config` edits applied to defconfig, before `olddefconfig`. */
  edits: string[];
  /** Options whose final state is checked and reported. */
  verify: string[];
}

/** Debug info for addr2line (file:line with inline chains), on top of defconfig's KVM=y. */
export const DEBUG_EDITS = [
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

/** The `scripts/config` edits of a generated configuration: debug info, then its own. */
export const optionConfigEdits = (def: Pick<OptionConfigDef, "disable" | "enable">): string[] => [
  ...DEBUG_EDITS,
  ...def.disable.flatMap((o) => ["-d", o]),
  ...def.enable.flatMap((o) => ["-e", o]),
];

const REASONS = {
  defconfig:
    "What most kernels run: the options defconfig turns on, and the breaks that show only " +
    "when an option is off.",
  instrumented:
    "The instrumentation that must stay out of hyp objects (SCS, KASAN, UBSAN, KCOV, ftrace, " +
    "stack protector), on, so a Makefile guard that lets one in is seen.",
  clang: "The same with clang, whose inlining, outlining and instrumentation differ from gcc's.",
};

export const BUILD_CONFIGS = {
  defconfig: { cc: "gcc", reason: REASONS.defconfig, ...PLAIN },
  instrumented: { cc: "gcc", reason: REASONS.instrumented, ...INSTRUMENTED },
  "clang-defconfig": { cc: "clang", reason: REASONS.clang, ...PLAIN },
  "clang-instrumented": { cc: "clang", reason: REASONS.clang, ...INSTRUMENTED },
  // The options the hyp build tests, turned on in as few configurations as Kconfig allows;
  // each also with clang.
  ...Object.fromEntries(
    OPTION_CONFIGS.flatMap((def: OptionConfigDef) => {
      const options = { edits: optionConfigEdits(def), verify: [...DEBUG_VERIFY, ...def.verify] };
      return [
        [def.name, { cc: "gcc", reason: def.reason, ...options }],
        [
          `clang-${def.name}`,
          { cc: "clang", reason: `${REASONS.clang} ${def.reason}`, ...options },
        ],
      ];
    }),
  ),
} as Record<BuildConfigName, BuildConfigDef>;

/** Thrown when a configuration's compiler is not installed. */
export class CompilerMissingError extends HypwatchError {
  // Every attempt on this host lacks it too; an operator installs it.
  readonly kind = "permanent";
  constructor(readonly config: BuildConfigName) {
    super(`${config} needs ${BUILD_CONFIGS[config].cc}, which is not installed`);
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

/** Marks the stamp of a build directory built through ccache (`Stamp.configHash`). */
const CCACHE_STAMP = "+ccache";

/**
 * The slot's compiler cache, which every configuration shares (ccache keys an object by its
 * compiler and flags too): written by base builds, read by series builds. A series build
 * compiles the way its copy of the base directory was built (`stamp`), whatever the slot
 * says now: the other way would rebuild the whole directory, for every series, until the
 * base is built again.
 */
async function compilerCache(
  slot: Slot,
  area: BuildArea,
  stamp: Stamp | null,
): Promise<CompilerCache | undefined> {
  const wanted =
    area === "series" && stamp ? stamp.configHash.endsWith(CCACHE_STAMP) : slot.compilerCache;
  if (!wanted || !(await ccacheInstalled())) return undefined;
  const dir = path.join(slot.buildRoot, "ccache");
  await mkdir(dir, { recursive: true });
  return { dir, writable: area === "base" };
}

/** Identity of a configuration: its edits and the compiler that will build it. */
export async function configHash(name: BuildConfigName): Promise<string> {
  const def = BUILD_CONFIGS[name];
  const cc = await compilerVersion(def.cc);
  if (!cc) throw new CompilerMissingError(name);
  return (
    createHash("sha256")
      // What the directory holds: a directory built for other targets is configured afresh.
      .update(JSON.stringify({ name, edits: def.edits, cc, targets: HYP_TARGETS }))
      .digest("hex")
      .slice(0, 16)
  );
}

async function readStamp(file: string): Promise<Stamp | null> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as Stamp;
  } catch {
    return null;
  }
}

/**
 * Where a build runs. `base`: the slot's own build directories, built only from commits of
 * the trusted tree; they carry incremental state from one check to the next. `series`: a
 * copy of them made for one series (`startSeriesArea`), where patched code builds, thrown
 * away when the series is done (`endSeriesArea`): nothing a series writes there (Kbuild's
 * `.cmd` files, objects, scripts) reaches a later check or a stored base result.
 */
export type BuildArea = "base" | "series";

export interface BuildOptions {
  limits?: Partial<KbuildLimits>;
  /** Override the era's targets (tests build a single object or a probe). */
  targets?: string[];
  /** Default `base`. */
  area?: BuildArea;
  /**
   * The series' deadline (epoch ms): the build's time bound is cut to what is left, and a
   * build that would start after it is not run (`bound: "series-time"`).
   */
  deadline?: number;
}

interface AreaPaths {
  buildDir: string;
  stampFile: string;
  tmpDir: string;
}

const seriesRoot = (slot: Slot) => path.join(slot.dir, "series");

function areaPaths(slot: Slot, name: BuildConfigName, area: BuildArea): AreaPaths {
  if (area === "base")
    return {
      buildDir: path.join(slot.buildRoot, name),
      stampFile: path.join(slot.buildRoot, `${name}.stamp.json`),
      tmpDir: path.join(slot.dir, "tmp", name),
    };
  return {
    buildDir: path.join(seriesRoot(slot), name),
    stampFile: path.join(seriesRoot(slot), `${name}.stamp.json`),
    tmpDir: path.join(seriesRoot(slot), `${name}.tmp`),
  };
}

/**
 * The commit every base build directory of the slot was last built from (trusted code
 * only: see `BuildArea`), or null when none was built or they were built from different
 * commits. Putting the worktree back to it may keep the objects (`CheckoutOptions.asBuilt`).
 */
export async function baseBuiltFrom(slot: Slot): Promise<string | null> {
  const names = await readdir(slot.buildRoot).catch(() => []);
  const stamps = await Promise.all(
    names
      .filter((n) => n.endsWith(".stamp.json"))
      .map((n) => readStamp(path.join(slot.buildRoot, n))),
  );
  const built = new Set(stamps.map((s) => s?.lastBuilt ?? null));
  const [commit] = built;
  return built.size === 1 && commit ? commit : null;
}

/**
 * Whether configuration `name`'s base build directory in the slot was built, and for the
 * configuration as it is now (either way of the compiler cache): a series area copied from
 * it rebuilds only what differs. Otherwise a series builds from nothing, every time, until
 * the base is built in the slot again.
 */
export async function baseBuildCurrent(slot: Slot, name: BuildConfigName): Promise<boolean> {
  const stamp = await readStamp(areaPaths(slot, name, "base").stampFile);
  if (!stamp?.lastBuilt) return false;
  const hash = await configHash(name);
  return stamp.configHash === hash || stamp.configHash === `${hash}${CCACHE_STAMP}`;
}

/** Throw away what an earlier series left in the slot; the series area starts empty. */
export async function startSeriesArea(slot: Slot): Promise<void> {
  await rm(seriesRoot(slot), { recursive: true, force: true });
}

/** Throw away the series area: its build directories held untrusted code's output. */
export const endSeriesArea = startSeriesArea;

/**
 * The series copy of configuration `name`'s base build directory, made on first use in a
 * series: `cp -a` keeps mtimes, so make rebuilds only what the patches change (27 MB and
 * 4,100 files for the hyp objects of linux 6.1: 0.35 s).
 */
async function ensureSeriesCopy(slot: Slot, name: BuildConfigName): Promise<void> {
  const base = areaPaths(slot, name, "base");
  const series = areaPaths(slot, name, "series");
  if (await exists(series.buildDir)) return;
  await mkdir(seriesRoot(slot), { recursive: true });
  if ((await exists(base.buildDir)) && (await exists(base.stampFile))) {
    await copyTree(base.buildDir, series.buildDir);
    await writeFile(series.stampFile, await readFile(base.stampFile));
  } else {
    await mkdir(series.buildDir, { recursive: true });
  }
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

function logFile(slot: Slot, name: string, step: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  return path.join(slot.logDir, `${stamp}-${name}-${step}.log`);
}

/** defconfig, `edits`, olddefconfig in `inv.buildDir`; the resulting `.config`. */
async function configureDir(inv: KbuildInvocation, edits: string[], name: string): Promise<string> {
  const steps: [string, () => ReturnType<typeof kbuildMake>][] = [
    ["defconfig", () => kbuildMake(inv, ["defconfig"])],
    ["scripts/config", () => kconfigEdit(inv, edits)],
    ["olddefconfig", () => kbuildMake(inv, ["olddefconfig"])],
  ];
  for (const [step, fn] of steps) {
    const result = await fn();
    if (result.exitCode !== 0)
      throw new ConfigureError(
        name,
        inv.logPath,
        result.bound ? `${step} stopped: ${result.bound} bound` : `${step} failed`,
      );
  }
  return readUntrustedFile(path.join(inv.buildDir, ".config"), 4 * 1024 ** 2);
}

/**
 * The `.config` that `edits` on top of defconfig give after olddefconfig, configured (not
 * built) in a scratch directory of the slot: what Kconfig keeps of a candidate
 * configuration before it is defined (scripts/configs-coverage.ts).
 */
export async function trialConfigure(
  slot: Slot,
  cc: Compiler,
  edits: string[],
  label: string,
): Promise<string> {
  const buildDir = path.join(slot.dir, "trial", label);
  const tmpDir = path.join(slot.dir, "trial", `${label}.tmp`);
  await rm(buildDir, { recursive: true, force: true });
  await mkdir(buildDir, { recursive: true });
  await mkdir(tmpDir, { recursive: true });
  const logPath = logFile(slot, label, "trial");
  try {
    return await configureDir(
      { srcDir: slot.src, buildDir, tmpDir, limits: DEFAULT_LIMITS, logPath, cc },
      edits,
      label,
    );
  } finally {
    await rm(path.join(slot.dir, "trial"), { recursive: true, force: true });
  }
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
  const dotConfig = await configureDir(inv, def.edits, name);
  const enabled = enabledOptions(dotConfig);
  return {
    name,
    hash,
    requested: def.verify,
    enabled: def.verify.filter((o) => enabled.has(o)),
    unavailable: def.verify.filter((o) => !enabled.has(o)),
  };
}

/**
 * Build the hyp objects of the slot's worktree, as it is now, in configuration `name`'s
 * build directory of `opts.area`. The directory is reused while its configuration hash
 * matches (only what changed since its last build is rebuilt); otherwise it is emptied and
 * configured afresh. Everything make runs is sandboxed (see io/sandbox.ts); afterwards,
 * anything in the build directory that is not a plain file or directory is removed before
 * hypwatch reads it.
 */
export async function buildHyp(
  slot: Slot,
  name: BuildConfigName,
  opts: BuildOptions = {},
): Promise<HypBuildResult> {
  const area = opts.area ?? "base";
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const left = opts.deadline === undefined ? Infinity : opts.deadline - Date.now();
  const clipped = left < limits.timeoutMs;
  limits.timeoutMs = Math.max(0, Math.min(limits.timeoutMs, left));
  const era = await detectEra(slot.src);
  const head = (await gitOk(slot.src, ["rev-parse", "HEAD"])).trim();
  if (area === "series") await ensureSeriesCopy(slot, name);
  const { buildDir, stampFile, tmpDir } = areaPaths(slot, name, area);
  const hash = await configHash(name);
  const cc = BUILD_CONFIGS[name].cc;
  const targets = opts.targets ?? [...HYP_TARGETS[era]];
  const logPath = logFile(slot, name, "build");
  const unbuilt = (bound: HypBuildResult["bound"], report: ConfigReport | null) => ({
    config: name,
    era,
    head,
    buildDir,
    targets,
    ok: false,
    timedOut: bound === "time" || bound === "series-time",
    bound,
    failedTargets: [],
    logPath,
    durationMs: 0,
    incremental: false,
    configReport: report ?? emptyReport(name, hash),
  });
  if (limits.timeoutMs <= 0) return unbuilt("series-time", null);
  await rm(tmpDir, { recursive: true, force: true });
  await mkdir(tmpDir, { recursive: true });
  let stamp = await readStamp(stampFile);
  const cache = await compilerCache(slot, area, stamp);
  // Kbuild records the compiler command, which ccache changes: a directory built one way is
  // rebuilt whole the other way, so the way is part of what the directory holds.
  const dirHash = cache ? `${hash}${CCACHE_STAMP}` : hash;
  if (!stamp || stamp.configHash !== dirHash) {
    await rm(buildDir, { recursive: true, force: true });
    await mkdir(buildDir, { recursive: true });
    const configLog = logFile(slot, name, "config");
    const inv = { srcDir: slot.src, buildDir, tmpDir, limits, logPath: configLog, cc, cache };
    const report = await configure(inv, name, hash).catch((error: unknown) => {
      // A patched Kconfig that does not configure is the series' problem, not hypwatch's.
      if (area === "series" && error instanceof ConfigureError) return null;
      throw error;
    });
    if (!report)
      return { ...unbuilt(null, null), logPath: configLog, failedTargets: ["configure"] };
    stamp = { configHash: dirHash, report, lastBuilt: null };
    await removeSpecialFiles(buildDir);
    await writeFile(stampFile, JSON.stringify(stamp, null, 2));
  }
  const incremental = stamp.lastBuilt !== null;
  const result = await kbuildMake(
    { srcDir: slot.src, buildDir, tmpDir, limits, logPath, cc, cache },
    targets,
  );
  await removeSpecialFiles(buildDir);
  const compilerCacheCounts = cache
    ? ccacheCounts(
        await readUntrustedFile(path.join(tmpDir, CCACHE_LOG), 64 * 1024 ** 2).catch(() => ""),
      )
    : undefined;
  await rm(tmpDir, { recursive: true, force: true });
  const bound = result.bound === "time" && clipped ? "series-time" : result.bound;
  const ok = result.exitCode === 0 && bound === null;
  const failedTargets = ok
    ? []
    : failedMakeTargets(await readUntrustedFile(logPath, 64 * 1024 ** 2));
  // make deletes a half-written target when a command fails, but a build killed for a bound
  // may leave truncated objects newer than their sources: start that one afresh.
  if (bound) await rm(stampFile, { force: true });
  else await writeFile(stampFile, JSON.stringify({ ...stamp, lastBuilt: head }, null, 2));
  return {
    config: name,
    era,
    head,
    buildDir,
    targets,
    ok,
    timedOut: result.timedOut || bound === "series-time",
    bound,
    failedTargets,
    logPath,
    durationMs: result.durationMs,
    incremental,
    ...(compilerCacheCounts ? { compilerCache: compilerCacheCounts } : {}),
    configReport: stamp.report,
  };
}

function emptyReport(name: BuildConfigName, hash: string): ConfigReport {
  return { name, hash, requested: BUILD_CONFIGS[name].verify, enabled: [], unavailable: [] };
}
