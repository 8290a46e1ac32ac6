import {
  ConfigError,
  sourceId,
  sourcePassword,
  type Config,
  type ListConfig,
  type SourceConfig,
} from "../../config.js";
import type { Logger } from "../../log.js";
import { createEpochsSource, epochsSourceOptions } from "./epochs.js";
import { MaildirSource, MboxSource } from "./files.js";
import { createImapSource } from "./imap.js";
import { createLoreSource, loreSourceOptions } from "./lore.js";
import type { LiveSource } from "./types.js";

export interface ListSourcesOptions {
  /** hypwatch's version, for lore's User-Agent. */
  version: string;
  /** Where IMAP passwords are read from (each source's `passwordEnv`). */
  env?: NodeJS.ProcessEnv;
  /**
   * The cache root epochs are mirrored under (`<cacheDir>/epochs/<inbox>`): the service
   * passes `cacheRoot(config.cacheDir)`. Default: `config.cacheDir`.
   */
  cacheDir?: string;
  log?: Logger;
}

/** The same source under the id of its configuration (`sourceId`), not the factory's. */
function named(id: string, source: LiveSource): LiveSource {
  return {
    id,
    read: (from, opts) => source.read(from, opts),
    waitForNew: (signal) => source.waitForNew(signal),
    close: () => source.close(),
  };
}

/**
 * The live sources of one configured list, in the order of its `sources`, each with the id
 * `sourceId` gives its settings (stable, distinct within the list). Nothing is connected or
 * read yet. An IMAP source whose password variable is not set, or an epochs source without
 * a cache directory, is a ConfigError naming the list.
 */
export async function createListSources(
  list: ListConfig,
  config: Config,
  opts: ListSourcesOptions,
): Promise<LiveSource[]> {
  const env = opts.env ?? process.env;
  const cacheDir = opts.cacheDir ?? config.cacheDir;
  const limits = config.mailLimits;
  const where = (i: number) => `list ${list.name}: sources.${i}`;
  const mirrors = new Map<string, number>();

  const create = (source: SourceConfig, i: number): LiveSource => {
    switch (source.type) {
      case "lore": {
        const inbox = {
          url: source.url,
          pollIntervalSeconds: source.pollIntervalSeconds ?? config.lore.pollIntervalSeconds,
        };
        return createLoreSource(loreSourceOptions(config, opts.version, inbox));
      }
      case "epochs": {
        if (!cacheDir) {
          throw new ConfigError([
            `${where(i)}: no cache directory to mirror the epochs in (cacheDir, HYPWATCH_CACHE)`,
          ]);
        }
        const inbox = {
          url: source.url,
          pollIntervalSeconds: source.pollIntervalSeconds ?? config.epochs.pollIntervalSeconds,
        };
        const options = epochsSourceOptions(config, cacheDir, inbox);
        if (!options) throw new ConfigError([`${where(i)}: no url`]);
        const other = mirrors.get(options.mirrorDir);
        if (other !== undefined) {
          throw new ConfigError([
            `${where(i)}: mirrors into ${options.mirrorDir}, as sources.${other} does; keep one`,
          ]);
        }
        mirrors.set(options.mirrorDir, i);
        return createEpochsSource(options);
      }
      case "imap": {
        const password = sourcePassword(source, env);
        if (!password) {
          throw new ConfigError([
            `${where(i)}: ${source.passwordEnv} is not set (the password of ${source.user}@${source.host})`,
          ]);
        }
        const { host, port, tls, user, mailbox } = source;
        return createImapSource(
          { host, port, tls, user, password, mailbox },
          { limits, log: opts.log },
        );
      }
      case "maildir":
        return new MaildirSource(source.path, { limits, log: opts.log });
      case "mbox":
        return new MboxSource(source.path, { limits, log: opts.log });
    }
  };

  const sources: LiveSource[] = [];
  const problems: string[] = [];
  list.sources.forEach((source, i) => {
    try {
      sources.push(named(sourceId(source), create(source, i)));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return sources;
}
