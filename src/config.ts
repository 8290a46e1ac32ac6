import { z } from "zod";

/** Paths whose change makes a patch "touch arm64 KVM". Prefixes, or globs with `*`. */
export const DEFAULT_RELEVANT_PATHS = [
  "arch/arm64/kvm/",
  "arch/arm64/include/asm/kvm_*",
  "arch/arm64/kernel/image-vars.h",
  "virt/kvm/arm/",
  "include/kvm/arm_*",
  "arch/arm/kvm/",
] as const;

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
});

export type ServiceConfig = z.infer<typeof serviceSchema>;

function readServiceConfig(env: NodeJS.ProcessEnv): Partial<ServiceConfig> {
  const seconds = (value: string | undefined) => (value ? Number(value) : undefined);
  return {
    scanTimeLimitSeconds: seconds(env.HYPWATCH_SCAN_TIME_LIMIT),
    checkTimeLimitSeconds: seconds(env.HYPWATCH_CHECK_TIME_LIMIT),
    shutdownDeadlineSeconds: seconds(env.HYPWATCH_SHUTDOWN_DEADLINE),
    logLevel: (env.HYPWATCH_LOG_LEVEL || undefined) as ServiceConfig["logLevel"] | undefined,
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
  for (const url of [config.redisUrl, config.tree]) {
    const userInfo = url && /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]+)@/i.exec(url)?.[1];
    if (!userInfo) continue;
    // `user:password` keeps its user name; a lone name is a token (`https://TOKEN@host`).
    const secret = userInfo.includes(":") ? userInfo.slice(userInfo.indexOf(":") + 1) : userInfo;
    secrets.push(secret, decodeOrKeep(secret));
  }
  return secrets;
}

/** The one configuration schema: the CLI, the workers and docs/config.md all use it. */
export const configSchema = z.object({
  relevantPaths: z.array(z.string().min(1)).default([...DEFAULT_RELEVANT_PATHS]),
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
  service: serviceSchema.default(serviceSchema.parse({})),
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
    service: readServiceConfig(env),
  });
}
