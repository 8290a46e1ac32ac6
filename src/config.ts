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
  });
}
