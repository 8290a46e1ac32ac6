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
}

/**
 * `make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- O=<buildDir> -j<n> <targets>` inside
 * the sandbox. With O=, Kbuild writes nothing into the source tree, so the source stays
 * read-only: a patched Makefile can change nothing but the build directory and its /tmp.
 */
export function kbuildMake(inv: KbuildInvocation, targets: string[]): Promise<SandboxResult> {
  return runSandboxed("make", kbuildArgs(inv, targets), {
    cwd: inv.buildDir,
    writable: [inv.buildDir],
    readable: [inv.srcDir],
    tmpDir: inv.tmpDir,
    limits: inv.limits,
    logPath: inv.logPath,
  });
}

/** make's arguments for `kbuildMake`; a later `CC=` on the command line overrides `inv.cc`. */
export function kbuildArgs(
  inv: Pick<KbuildInvocation, "srcDir" | "buildDir" | "limits" | "cc">,
  targets: readonly string[],
): string[] {
  return [
    "-C",
    inv.srcDir,
    `O=${inv.buildDir}`,
    `ARCH=${ARCH}`,
    `CROSS_COMPILE=${CROSS_COMPILE}`,
    ...(inv.cc === "clang" ? ["CC=clang"] : []),
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

/**
 * The compiler's version line (part of every build configuration's identity); empty when
 * it is not installed.
 */
export async function compilerVersion(cc: "gcc" | "clang" = "gcc"): Promise<string> {
  const file = cc === "clang" ? "clang" : `${CROSS_COMPILE}gcc`;
  const result = await run(file, ["--version"]).catch(() => null);
  return result?.exitCode === 0 ? (result.stdout.split("\n")[0]?.trim() ?? "") : "";
}
