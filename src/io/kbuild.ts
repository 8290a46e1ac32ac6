import path from "node:path";
import { run } from "./exec.js";
import { runSandboxed, type SandboxResult } from "./sandbox.js";

export const ARCH = "arm64";
export const CROSS_COMPILE = "aarch64-linux-gnu-";

/** Resource limits of one sandboxed kernel make. */
export interface KbuildLimits {
  timeoutMs: number;
  /** Address-space limit per process. */
  memoryBytes: number;
  /** Parallel jobs (the machines are small and shared: 2 by default). */
  jobs?: number;
}

export const DEFAULT_LIMITS: KbuildLimits = {
  timeoutMs: 40 * 60_000,
  memoryBytes: 4 * 1024 ** 3,
  jobs: 2,
};

export interface KbuildInvocation {
  /** The kernel source tree (read-only inside the sandbox). */
  srcDir: string;
  /** The `O=` directory (the only writable path besides a private /tmp). */
  buildDir: string;
  logPath: string;
  limits: KbuildLimits;
}

/**
 * `make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- O=<buildDir> -j<n> <targets>` inside
 * the sandbox. With O=, Kbuild writes nothing into the source tree, so the source stays
 * read-only: a patched Makefile can change neither the worktree nor anything else.
 */
export function kbuildMake(inv: KbuildInvocation, targets: string[]): Promise<SandboxResult> {
  const args = [
    "-C",
    inv.srcDir,
    `O=${inv.buildDir}`,
    `ARCH=${ARCH}`,
    `CROSS_COMPILE=${CROSS_COMPILE}`,
    `-j${inv.limits.jobs ?? 2}`,
    ...targets,
  ];
  return runSandboxed("make", args, {
    cwd: inv.buildDir,
    writable: [inv.buildDir],
    readable: [inv.srcDir],
    timeoutMs: inv.limits.timeoutMs,
    memoryBytes: inv.limits.memoryBytes,
    maxFileBytes: 4 * 1024 ** 3,
    logPath: inv.logPath,
  });
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
      timeoutMs: 60_000,
      memoryBytes: inv.limits.memoryBytes,
      logPath: inv.logPath,
    },
  );
}

/** The cross compiler's version line (part of every build configuration's identity). */
export async function crossCompilerVersion(): Promise<string> {
  const result = await run(`${CROSS_COMPILE}gcc`, ["--version"]);
  return result.stdout.split("\n")[0]?.trim() ?? "";
}
