import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { configHash, poolDir, type BuildConfigName, type Era } from "../apply/index.js";
import { analyzerFingerprint, type Finding, type NvheAlias } from "../check/index.js";

/** What a check learned from building and analyzing a base commit in one configuration. */
export interface BaseRecord {
  era: Era;
  findings: Finding[];
  /** The base's nVHE alias list (modern era), against which new aliases are found. */
  aliases: NvheAlias[];
  /** The tree files the base's hyp build read: a first patch touching none is not built. */
  inputs: string[];
}

/**
 * The findings of base commits, per configuration, so that a second series on the same base
 * does not build and analyze the base again. A record is keyed by the commit, the
 * configuration's hash (its Kconfig edits and the compiler) and the analyzer's fingerprint;
 * anything else changing makes a new key. Only bases that built are stored.
 */
export class BaseCache {
  private constructor(private readonly dir: string) {}

  static async forTree(repo: string, cacheDir?: string): Promise<BaseCache> {
    return new BaseCache(path.join(await poolDir(repo, cacheDir), "bases"));
  }

  private async file(commit: string, config: BuildConfigName): Promise<string> {
    const key = `${commit}-${config}-${await configHash(config)}-${await analyzerFingerprint()}`;
    return path.join(this.dir, `${key}.json`);
  }

  async get(commit: string, config: BuildConfigName): Promise<BaseRecord | null> {
    try {
      const parsed = JSON.parse(await readFile(await this.file(commit, config), "utf8")) as unknown;
      return isRecord(parsed) ? parsed : null;
    } catch {
      return null;
    }
  }

  async put(commit: string, config: BuildConfigName, record: BaseRecord): Promise<void> {
    const file = await this.file(commit, config);
    await mkdir(this.dir, { recursive: true });
    // Written whole, then renamed: a concurrent reader sees the old file or the new one.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(record));
    await rename(tmp, file);
  }
}

function isRecord(value: unknown): value is BaseRecord {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    (v.era === "modern" || v.era === "legacy") &&
    Array.isArray(v.findings) &&
    Array.isArray(v.aliases) &&
    Array.isArray(v.inputs)
  );
}
