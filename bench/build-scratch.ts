/**
 * What the build benchmarks start from: the configured kernel tree at its base commit, and
 * a scratch cache directory of their own beside hypwatch's cache, where the unprivileged
 * build user can reach it (removed by the caller).
 */
import { chmod, mkdir, mkdtemp } from "node:fs/promises";
import path from "node:path";
import { ensureTree } from "../src/apply/index.js";
import { cacheRoot } from "../src/apply/tree.js";
import { readConfig, type Config } from "../src/config.js";
import { gitOk } from "../src/io/git.js";

export interface BuildScratch {
  config: Config;
  repo: string;
  /** The tree's HEAD commit: the base every series is applied on. */
  base: string;
  scratch: string;
}

export async function buildScratch(prefix: string): Promise<BuildScratch> {
  const config = readConfig();
  const repo = await ensureTree({ tree: config.tree });
  const base = (await gitOk(repo, ["rev-parse", "HEAD"])).trim();
  await mkdir(cacheRoot(), { recursive: true });
  const scratch = await mkdtemp(path.join(cacheRoot(), prefix));
  await chmod(scratch, 0o755);
  return { config, repo, base, scratch };
}
