import { cacheRoot } from "../src/apply/tree.js";
import { analyzerFingerprint } from "../src/check/fingerprint.js";
import { listBaseCandidates, type Config, type ListConfig } from "../src/config.js";
import { createListSources } from "../src/intake/live/from-config.js";
import type { Logger } from "../src/log.js";
import type { RevisionPolicy } from "../src/pipeline/revisions.js";
import { packageVersion } from "../src/version.js";
import { SERVICE_CONFIGS } from "./check.js";
import type { WatchedSource } from "./watch.js";

/** A configured list by name, or an error naming the lists there are. */
export function findList(config: Config, name: string): ListConfig {
  const list = config.lists.find((l) => l.name === name);
  if (list) return list;
  const known = config.lists.map((l) => l.name).join(", ") || "none";
  throw new Error(`no list "${name}" in the configuration (lists: ${known})`);
}

/** How a list's revisions are assembled and checked, from the configuration's policies. */
export function revisionPolicy(config: Config, list: ListConfig, analyzer: string): RevisionPolicy {
  const p = config.policies;
  return {
    list: list.name,
    relevantPaths: config.relevantPaths,
    limits: config.mailLimits,
    windowMessages: p.assemblyWindowMessages,
    marginMessages: p.assemblyMarginMessages,
    partialWaitMs: p.partialWaitSeconds * 1000,
    check: { candidates: listBaseCandidates(list, config), configs: SERVICE_CONFIGS, analyzer },
  };
}

/** The sources of every configured list, each with the policy its revisions follow. */
export async function configuredSources(config: Config, log: Logger): Promise<WatchedSource[]> {
  const analyzer = await analyzerFingerprint();
  const out: WatchedSource[] = [];
  for (const list of config.lists) {
    const policy = revisionPolicy(config, list, analyzer);
    const sources = await createListSources(list, config, {
      version: packageVersion(),
      cacheDir: cacheRoot(config.cacheDir),
      log,
    });
    for (const source of sources) out.push({ list: list.name, source, policy });
  }
  return out;
}
