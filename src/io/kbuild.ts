import path from "node:path";
import { run } from "./exec.js";
import {
  DEFAULT_SANDBOX_LIMITS,
  runSandboxed,
  type SandboxLimits,
  type SandboxResult,
} from "./sandbox.js";

export const ARCH = "arm64";
export const CROSS_COMPILE = "aarch64-linux-gnu-";

/** Resource limits of one sandboxed kernel make. */
export interface KbuildLimits extends SandboxLimits {
  /** Parallel jobs (the machines are small and shared: 2 by default). */
  jobs?: number;
}

export const DEFAULT_LIMITS: KbuildLimits = { ...DEFAULT_SANDBOX_LIMITS, jobs: 2 };

export interface KbuildInvocation {
  /** The kernel source tree (read-only inside the sandbox). */
  srcDir: string;
  /** The `O=` directory (the only writable path besides /tmp). */
  buildDir: string;
  /** The build's /tmp: a host directory private to this build directory. */
  tmpDir: string;
  logPath: string;
  limits: KbuildLimits;
  /** `clang` builds with `CC=clang` (its integrated assembler, GNU ld); default the cross gcc. */
  cc?: "gcc" | "clang";
  /** Debian's ccache in front of the compiler (see `CompilerCache`); none when absent. */
  cache?: CompilerCache;
}

/**
 * A ccache directory the build compiles through. Only builds of trusted code write it
 * (`writable`); a build of patched code reads it, bound read-only, and adds nothing: what a
 * hostile Makefile could put there would otherwise come back as another build's object.
 * ccache looks an object up by its preprocessed source, so a patch that changes a widely
 * included header but not what an object's code expands to finds that object cached; but
 * only line for line: a header that gains a line above code moves the line markers of
 * every object that includes it, and each of them is compiled again (docs/apply.md).
 */
export interface CompilerCache {
  dir: string;
  writable: boolean;
}

/** How big a writable cache may grow before ccache evicts its oldest entries. */
export const COMPILER_CACHE_SIZE = "2G";

/** The compiler a configuration builds with: the cross gcc, or clang (GNU binutils). */
const compilerCommand = (cc: "gcc" | "clang" | undefined) =>
  cc === "clang" ? "clang" : `${CROSS_COMPILE}gcc`;

/** ccache's log, in the build's /tmp (`KbuildInvocation.tmpDir`). */
export const CCACHE_LOG = "ccache.log";

/** Compiles answered from the cache and compiles run, counted in a ccache log. */
export function ccacheCounts(log: string): { hits: number; misses: number } {
  const count = (re: RegExp) => log.match(re)?.length ?? 0;
  return {
    hits: count(/ Result: (?:direct|preprocessed)_cache_hit$/gm),
    misses: count(/ Result: cache_miss$/gm),
  };
}

/** ccache's settings for `cache`, as environment of the build. */
function cacheEnv(cache: CompilerCache): Record<string, string> {
  return {
    CCACHE_DIR: cache.dir,
    CCACHE_TEMPDIR: "/tmp",
    CCACHE_MAXSIZE: COMPILER_CACHE_SIZE,
    // Base and series build directories differ. An object cached from the base one names
    // it only as its compilation directory, which its line tables do not use: they name
    // every file of the tree by its absolute path.
    CCACHE_NOHASHDIR: "1",
    CCACHE_LOGFILE: `/tmp/${CCACHE_LOG}`,
    ...(cache.writable ? {} : { CCACHE_READONLY: "1", CCACHE_NOSTATS: "1" }),
  };
}

/**
 * `make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- O=<buildDir> -j<n> <targets>` inside
 * the sandbox. With O=, Kbuild writes nothing into the source tree, so the source stays
 * read-only: a patched Makefile can change nothing but the build directory and its /tmp.
 */
export function kbuildMake(inv: KbuildInvocation, targets: string[]): Promise<SandboxResult> {
  const { cache } = inv;
  return runSandboxed("make", kbuildArgs(inv, targets), {
    cwd: inv.buildDir,
    writable: [inv.buildDir, ...(cache?.writable ? [cache.dir] : [])],
    readable: [inv.srcDir, ...(cache && !cache.writable ? [cache.dir] : [])],
    tmpDir: inv.tmpDir,
    limits: inv.limits,
    logPath: inv.logPath,
    ...(cache ? { env: cacheEnv(cache) } : {}),
  });
}

/** make's arguments for `kbuildMake`; a later `CC=` on the command line overrides `inv.cc`. */
export function kbuildArgs(
  inv: Pick<KbuildInvocation, "srcDir" | "buildDir" | "limits" | "cc" | "cache">,
  targets: readonly string[],
): string[] {
  const cc = compilerCommand(inv.cc);
  return [
    "-C",
    inv.srcDir,
    `O=${inv.buildDir}`,
    `ARCH=${ARCH}`,
    `CROSS_COMPILE=${CROSS_COMPILE}`,
    ...(inv.cache ? [`CC=ccache ${cc}`] : inv.cc === "clang" ? ["CC=clang"] : []),
    `-j${inv.limits.jobs ?? 2}`,
    ...targets,
  ];
}

/** `scripts/config --file <buildDir>/.config <edits>` (e.g. `-e KASAN -d DEBUG_INFO_NONE`). */
export function kconfigEdit(inv: KbuildInvocation, edits: string[]): Promise<SandboxResult> {
  return runSandboxed(
    path.join(inv.srcDir, "scripts", "config"),
    ["--file", path.join(inv.buildDir, ".config"), ...edits],
    {
      cwd: inv.buildDir,
      writable: [inv.buildDir],
      readable: [inv.srcDir],
      tmpDir: inv.tmpDir,
      limits: { ...inv.limits, timeoutMs: Math.min(60_000, inv.limits.timeoutMs) },
      logPath: inv.logPath,
    },
  );
}

let ccacheFound: Promise<boolean> | undefined;

/** Whether Debian's ccache is installed (a slot with `compilerCache` compiles through it). */
export function ccacheInstalled(): Promise<boolean> {
  ccacheFound ??= run("ccache", ["--version"]).then(
    (r) => r.exitCode === 0,
    () => false,
  );
  return ccacheFound;
}

/**
 * The compiler's version line (part of every build configuration's identity); empty when
 * it is not installed.
 */
export async function compilerVersion(cc: "gcc" | "clang" = "gcc"): Promise<string> {
  const result = await run(compilerCommand(cc), ["--version"]).catch(() => null);
  return result?.exitCode === 0 ? (result.stdout.split("\n")[0]?.trim() ?? "") : "";
}
