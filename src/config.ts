import { z } from "zod";
import {
  DEFAULT_MAIL_LIMITS,
  MAIL_LIMIT_ENV,
  mailLimitsSchema,
  type MailLimits,
} from "./mail/limits.js";
import { DEFAULT_RELEVANT_PATTERNS } from "./series/relevance.js";

export { DEFAULT_MAIL_LIMITS, MAIL_LIMIT_ENV, mailLimitsSchema, type MailLimits };

const MiB = 1024 * 1024;

function readMailLimits(env: NodeJS.ProcessEnv): Partial<Record<keyof MailLimits, number>> {
  const out: Partial<Record<keyof MailLimits, number>> = {};
  for (const [key, name] of Object.entries(MAIL_LIMIT_ENV) as [keyof MailLimits, string][]) {
    const value = env[name];
    if (value) out[key] = Number(value);
  }
  return out;
}

/** How `hypwatch serve` runs jobs and stops. */
export const serviceSchema = z.object({
  /**
   * Seconds a scan job may run before its process is killed and the job failed. The whole
   * kvmarm archive (21,367 messages at >= 1,500 messages/s) scans in under a minute.
   */
  scanTimeLimitSeconds: z
    .number()
    .positive()
    .default(30 * 60),
  /**
   * Seconds a check job may run. A cold 4-configuration check builds in about 12 minutes on
   * 2 busy cores (docs/apply.md); the first check may clone the tree, which may take 6 hours.
   */
  checkTimeLimitSeconds: z
    .number()
    .positive()
    .default(6 * 3600),
  /** Seconds from SIGTERM to exit: running jobs get 80% of it, then are handed back. */
  shutdownDeadlineSeconds: z.number().positive().default(30),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Key prefix of the queues in Redis: one Redis can hold separate installations. */
  queuePrefix: z.string().min(1).default("bull"),
});

export type ServiceConfig = z.infer<typeof serviceSchema>;

function readServiceConfig(env: NodeJS.ProcessEnv): Partial<ServiceConfig> {
  const seconds = (value: string | undefined) => (value ? Number(value) : undefined);
  return {
    scanTimeLimitSeconds: seconds(env.HYPWATCH_SCAN_TIME_LIMIT),
    checkTimeLimitSeconds: seconds(env.HYPWATCH_CHECK_TIME_LIMIT),
    shutdownDeadlineSeconds: seconds(env.HYPWATCH_SHUTDOWN_DEADLINE),
    logLevel: (env.HYPWATCH_LOG_LEVEL || undefined) as ServiceConfig["logLevel"] | undefined,
    queuePrefix: env.HYPWATCH_QUEUE_PREFIX || undefined,
  };
}

/**
 * What one build of a patched tree may use, and who it runs as (docs/apply.md, Sandbox).
 * A build that reaches a bound is stopped and its verdict names the bound.
 */
export const buildSchema = z.object({
  /** Host uid and gid builds run as when hypwatch runs as root; never 0. */
  sandboxUid: z.number().int().positive().default(65534),
  sandboxGid: z.number().int().positive().default(65534),
  /** Seconds one build may run; a cold instrumented build takes 3 minutes on 2 busy cores. */
  buildTimeLimitSeconds: z
    .number()
    .positive()
    .default(40 * 60),
  /** Seconds all the builds of one check may take together (four configurations, cold). */
  seriesTimeLimitSeconds: z
    .number()
    .positive()
    .default(2 * 3600),
  /** Memory of all of a build's processes together (a hyp build peaks under 1 GiB). */
  memoryBytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * MiB),
  /** Processes alive at once (make -j2 runs a few dozen). */
  processes: z.number().int().positive().default(256),
  /** Largest single file a build writes (the biggest hyp object is under 10 MiB). */
  fileBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * MiB),
  /** Bytes on disk of a build directory and its /tmp (27 MiB for defconfig's hyp objects). */
  diskBytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * MiB),
  /** Files of a build directory and its /tmp (4,100 for defconfig's hyp objects). */
  diskFiles: z.number().int().positive().default(200_000),
});

export type BuildConfig = z.infer<typeof buildSchema>;

function readBuildConfig(env: NodeJS.ProcessEnv): Partial<BuildConfig> {
  const number = (value: string | undefined) => (value ? Number(value) : undefined);
  return {
    sandboxUid: number(env.HYPWATCH_SANDBOX_UID),
    sandboxGid: number(env.HYPWATCH_SANDBOX_GID),
    buildTimeLimitSeconds: number(env.HYPWATCH_BUILD_TIME_LIMIT),
    seriesTimeLimitSeconds: number(env.HYPWATCH_SERIES_TIME_LIMIT),
    memoryBytes: number(env.HYPWATCH_BUILD_MEMORY),
    processes: number(env.HYPWATCH_BUILD_PROCESSES),
    fileBytes: number(env.HYPWATCH_BUILD_FILE_BYTES),
    diskBytes: number(env.HYPWATCH_BUILD_DISK_BYTES),
    diskFiles: number(env.HYPWATCH_BUILD_DISK_FILES),
  };
}

/** A subscribed IMAP mailbox read as a live source (src/intake/live/imap.ts). */
export const imapSchema = z.object({
  host: z.string().min(1),
  /** 993 is IMAP over TLS; 143 is cleartext or STARTTLS. */
  port: z.number().int().positive().max(65535).default(993),
  /** TLS from the first byte; off: STARTTLS when the server offers it, else cleartext. */
  tls: z.boolean().default(true),
  user: z.string().min(1),
  /** A secret: registered for redaction, never logged. */
  password: z.string().min(1),
  mailbox: z.string().min(1).default("INBOX"),
});

export type ImapConfig = z.infer<typeof imapSchema>;

/** The IMAP settings, or undefined when no IMAP host is configured. */
function readImapConfig(env: NodeJS.ProcessEnv): Partial<ImapConfig> | undefined {
  if (!env.HYPWATCH_IMAP_HOST) return undefined;
  const tls = env.HYPWATCH_IMAP_TLS?.trim().toLowerCase();
  return {
    host: env.HYPWATCH_IMAP_HOST,
    port: env.HYPWATCH_IMAP_PORT ? Number(env.HYPWATCH_IMAP_PORT) : undefined,
    tls: tls ? !["0", "false", "no", "off"].includes(tls) : undefined,
    user: env.HYPWATCH_IMAP_USER || undefined,
    password: env.HYPWATCH_IMAP_PASSWORD || undefined,
    mailbox: env.HYPWATCH_IMAP_MAILBOX || undefined,
  };
}

/** A lore (public-inbox) inbox read over HTTP as a live source (src/intake/live/lore.ts). */
export const loreSchema = z.object({
  /** The inbox: `https://lore.kernel.org/<list>`, or `/all` for every list lore carries. */
  url: z.string().url().default("https://lore.kernel.org/all"),
  /**
   * Seconds between polls of new.atom (plus up to 20% of jitter). NIPA polls every 2
   * minutes; below 30 s a bot is a load on lore, not a faster reader.
   */
  pollIntervalSeconds: z.number().min(30).default(120),
  /** A project URL or mail address sent in the User-Agent, so lore's admins can reach us. */
  contact: z.string().min(1).optional(),
});

export type LoreConfig = z.infer<typeof loreSchema>;

function readLoreConfig(env: NodeJS.ProcessEnv): Partial<LoreConfig> {
  return {
    url: env.HYPWATCH_LORE_URL || undefined,
    pollIntervalSeconds: env.HYPWATCH_LORE_POLL_INTERVAL
      ? Number(env.HYPWATCH_LORE_POLL_INTERVAL)
      : undefined,
    contact: env.HYPWATCH_LORE_CONTACT || undefined,
  };
}

/** A public-inbox inbox's git epochs, mirrored and read as a live source (intake/live/epochs.ts). */
export const epochsSchema = z.object({
  /**
   * The inbox: a URL base whose epochs are `<base>/git/<N>.git`
   * (`https://lore.kernel.org/kvmarm`), or a local directory of epochs. Unset: none read.
   */
  url: z.string().min(1).optional(),
  /**
   * Seconds between fetches (plus up to 20% of jitter). Each poll runs `git fetch` per epoch
   * read and `git ls-remote` for the next epoch; lore's grokmirror polls every 5 minutes.
   */
  pollIntervalSeconds: z.number().min(30).default(300),
});

export type EpochsConfig = z.infer<typeof epochsSchema>;

function readEpochsConfig(env: NodeJS.ProcessEnv): Partial<EpochsConfig> {
  return {
    url: env.HYPWATCH_EPOCHS_URL || undefined,
    pollIntervalSeconds: env.HYPWATCH_EPOCHS_POLL_INTERVAL
      ? Number(env.HYPWATCH_EPOCHS_POLL_INTERVAL)
      : undefined,
  };
}

function decodeOrKeep(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Secret values in a configuration, for `registerSecrets`: passwords and tokens in URLs. */
export function configSecrets(config: Config): string[] {
  const secrets: string[] = [];
  for (const url of [config.redisUrl, config.tree, config.lore.url, config.epochs.url]) {
    const userInfo = url && /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]+)@/i.exec(url)?.[1];
    if (!userInfo) continue;
    // `user:password` keeps its user name; a lone name is a token (`https://TOKEN@host`).
    const secret = userInfo.includes(":") ? userInfo.slice(userInfo.indexOf(":") + 1) : userInfo;
    secrets.push(secret, decodeOrKeep(secret));
  }
  if (config.imap) secrets.push(config.imap.password);
  return secrets;
}

/** The one configuration schema: the CLI, the workers and docs/config.md all use it. */
export const configSchema = z.object({
  /** Paths whose change makes a patch "touch arm64 KVM" (series/relevance.ts). */
  relevantPaths: z.array(z.string().min(1)).default([...DEFAULT_RELEVANT_PATTERNS]),
  /** Kernel tree: a git repository path or URL. Unset: Debian's linux-source-6.1, prepared once. */
  tree: z.string().min(1).optional(),
  /** Refs tried in order when a series has no usable `base-commit:`. */
  baseCandidates: z.array(z.string().min(1)).default([]),
  /** Where trees, worktrees and build directories are kept. */
  cacheDir: z.string().min(1).optional(),
  /** Unthreaded series: how far apart (seconds) the patches of one series may be. */
  unthreadedWindowSeconds: z
    .number()
    .int()
    .positive()
    .default(6 * 3600),
  redisUrl: z.string().default("redis://127.0.0.1:6379"),
  mailLimits: mailLimitsSchema.default(DEFAULT_MAIL_LIMITS),
  service: serviceSchema.default(serviceSchema.parse({})),
  build: buildSchema.default(buildSchema.parse({})),
  imap: imapSchema.optional(),
  lore: loreSchema.default(loreSchema.parse({})),
  epochs: epochsSchema.default(epochsSchema.parse({})),
});

export type Config = z.infer<typeof configSchema>;

/** Read the configuration from the environment (injectable for tests). */
export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const list = (value: string | undefined) =>
    value
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  return configSchema.parse({
    relevantPaths: list(env.HYPWATCH_RELEVANT_PATHS),
    tree: env.HYPWATCH_LINUX_TREE || undefined,
    baseCandidates: list(env.HYPWATCH_BASE_CANDIDATES),
    cacheDir: env.HYPWATCH_CACHE || undefined,
    unthreadedWindowSeconds: env.HYPWATCH_UNTHREADED_WINDOW
      ? Number(env.HYPWATCH_UNTHREADED_WINDOW)
      : undefined,
    redisUrl: env.HYPWATCH_REDIS_URL || undefined,
    mailLimits: readMailLimits(env),
    service: readServiceConfig(env),
    build: readBuildConfig(env),
    imap: readImapConfig(env),
    lore: readLoreConfig(env),
    epochs: readEpochsConfig(env),
  });
}
