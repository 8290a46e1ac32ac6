import { existsSync } from "node:fs";
import path from "node:path";
import { compilerVersion } from "../src/io/kbuild.js";
import { cacheRoot, prepareDebianLinuxSource } from "../src/apply/tree.js";

/**
 * The one place tests get their kernel tree from: `$HYPWATCH_LINUX_TREE`, else Debian's
 * linux-source prepared once in the cache.
 */
export async function linuxTree(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return env.HYPWATCH_LINUX_TREE || prepareDebianLinuxSource();
}

/** Where tests keep their worktree slots and build directories (reused between runs). */
export const testCacheDir = (): string => path.join(cacheRoot(), "test");

/** Opt-in for the slow kernel builds (the instrumented configuration, cold). */
export const slowTests = (env: NodeJS.ProcessEnv = process.env): boolean =>
  env.HYPWATCH_SLOW_TESTS === "1";

/**
 * Whether the tests that build the real kernel can run: the cross compiler is installed,
 * the tree is there, and HYPWATCH_SKIP_KERNEL_TESTS=1 does not skip them.
 */
export async function kernelTestsAvailable(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (env.HYPWATCH_SKIP_KERNEL_TESTS === "1" || (await compilerVersion()) === "") return false;
  return env.HYPWATCH_LINUX_TREE
    ? existsSync(env.HYPWATCH_LINUX_TREE)
    : existsSync("/usr/src/linux-source-6.1.tar.xz");
}
