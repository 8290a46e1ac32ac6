import { readFileSync } from "node:fs";
import path from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { HypwatchError } from "./errors.js";
import {
  DEFAULT_MAIL_LIMITS,
  MAIL_LIMIT_ENV,
  mailLimitsSchema,
  type MailLimits,
} from "./mail/limits.js";
import { DEFAULT_RELEVANT_PATTERNS } from "./series/relevance.js";

export { DEFAULT_MAIL_LIMITS, MAIL_LIMIT_ENV, mailLimitsSchema, type MailLimits };

const MiB = 1024 * 1024;

/**
 * A configuration that cannot be used: one line per problem, each naming where it is (the
 * file, or the environment variable) and the key as a dotted path with indexes, e.g.
 * `hypwatch.yaml: lists.0.sources.1.url: Invalid URL`.
 */
export class ConfigError extends HypwatchError {
  // The same file and environment fail the same way until someone edits them.
  readonly kind = "permanent";
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
  }
}

/** How `hypwatch serve` runs jobs and stops. */
export const serviceSchema = z.strictObject({
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
  /** Port of the metrics and status web server; 0: no web server. */
  metricsPort: z.number().int().min(0).max(65535).default(9464),
  /** Address it listens on: loopback unless a scraper elsewhere needs it. */
  metricsHost: z.string().default("127.0.0.1"),
});

export type ServiceConfig = z.infer<typeof serviceSchema>;

/**
 * What one build of a patched tree may use, and who it runs as (docs/apply.md, Sandbox).
 * A build that reaches a bound is stopped and its verdict names the bound.
 */
export const buildSchema = z.strictObject({
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
  /**
   * Configurations a check builds at once, sharing make's 2 jobs (docs/apply.md, Side by
   * side): the parts of one build that make runs on one core overlap with the other's.
   */
  configsSideBySide: z.number().int().min(1).max(8).default(1),
  /**
   * Compile through Debian's ccache when it is installed: base builds fill a cache that
   * series builds read, never write. Off by default: on the real series measured, a
   * verdict took longer with it (docs/apply.md, ccache).
   */
  compilerCache: z.boolean().default(false),
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

/** A subscribed IMAP mailbox read as a live source (src/intake/live/imap.ts). */
export const imapSchema = z.strictObject({
  host: z.string().min(1),
  /** 993 is IMAP over TLS; 143 is cleartext or STARTTLS. */
  port: z.number().int().positive().max(65535).default(993),
  /** TLS from the first byte; off: STARTTLS when the server offers it, else cleartext. */
  tls: z.boolean().default(true),
  user: z.string().min(1),
  /** A secret: registered for redaction, never logged; only ever from the environment. */
  password: z.string().min(1),
  mailbox: z.string().min(1).default("INBOX"),
});

export type ImapConfig = z.infer<typeof imapSchema>;

/** A lore (public-inbox) inbox read over HTTP as a live source (src/intake/live/lore.ts). */
export const loreSchema = z.strictObject({
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

/** A public-inbox inbox's git epochs, mirrored and read as a live source (intake/live/epochs.ts). */
export const epochsSchema = z.strictObject({
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

/**
 * Where one list's mail comes from. Secrets are never in the file: an IMAP password is read
 * from the environment variable `passwordEnv` names, when the source is created.
 */
export const sourceSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("lore"),
    url: z.string().url(),
    /** Default: the top-level `lore.pollIntervalSeconds`. */
    pollIntervalSeconds: z.number().min(30).optional(),
  }),
  z.strictObject({
    type: z.literal("epochs"),
    /** A URL base whose epochs are `<url>/git/<N>.git`, or a local directory of epochs. */
    url: z.string().min(1),
    /** Default: the top-level `epochs.pollIntervalSeconds`. */
    pollIntervalSeconds: z.number().min(30).optional(),
  }),
  z.strictObject({
    type: z.literal("imap"),
    host: z.string().min(1),
    port: z.number().int().positive().max(65535).default(993),
    tls: z.boolean().default(true),
    user: z.string().min(1),
    mailbox: z.string().min(1).default("INBOX"),
    passwordEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name")
      .default("HYPWATCH_IMAP_PASSWORD"),
  }),
  z.strictObject({ type: z.literal("maildir"), path: z.string().min(1) }),
  z.strictObject({ type: z.literal("mbox"), path: z.string().min(1) }),
]);

export type SourceConfig = z.infer<typeof sourceSchema>;
export type ImapSourceConfig = Extract<SourceConfig, { type: "imap" }>;

function isUrl(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
}

/** A URL without its user info (which may be a token) and trailing slashes. */
function bareUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, "$1").replace(/\/+$/, "");
}

/**
 * A source's stable name, for logs and the checkpoint store: made of its own settings only,
 * so adding or moving other sources changes no id, and distinct for distinct sources (two
 * inboxes both called kvmarm, two accounts' INBOX). Never carries a secret.
 */
export function sourceId(source: SourceConfig): string {
  switch (source.type) {
    case "lore":
      return `lore:${bareUrl(source.url)}`;
    case "epochs":
      return `epochs:${isUrl(source.url) ? bareUrl(source.url) : path.resolve(source.url)}`;
    case "imap":
      return `imap:${source.user}@${source.host}:${source.port}/${source.mailbox}`;
    case "maildir":
    case "mbox":
      return `${source.type}:${path.resolve(source.path)}`;
  }
}

/** The password of an IMAP source, from the variable its `passwordEnv` names; unset: undefined. */
export function sourcePassword(
  source: ImapSourceConfig,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  return env[source.passwordEnv] || undefined;
}

/**
 * What the service says on a list about a verdict (src/report/reply/): to whom, when, and
 * whether it is sent at all. Dry run is the default: replies go to the outbox Maildir
 * (`mail.outboxDir`) until `send` is on.
 */
export const replyPolicySchema = z.strictObject({
  /** off: no replies; author: to the series' author alone; list: to the author, Cc the thread. */
  mode: z.enum(["off", "author", "list"]).default("list"),
  /** Send over SMTP (`mail.smtp`); off: write each reply to the outbox Maildir instead. */
  send: z.boolean().default(false),
  /** Hours after a revision's last message before a reply is sent: humans review first. */
  embargoHours: z.number().nonnegative().default(0),
  /** Also reply when a revision introduces nothing. */
  clean: z.boolean().default(false),
  /** A short "fixed" note when a revision is clean after an earlier one's findings were reported. */
  fixed: z.boolean().default(false),
  /** Also say when a revision applies to no base tried: which bases, and why each failed. */
  notApplied: z.boolean().default(false),
});

export type ReplyPolicy = z.infer<typeof replyPolicySchema>;

/** How the service writes mail (replies and digests). Secrets from the environment only. */
export const mailSchema = z.strictObject({
  /** The bot's sender address, `Name <address>`. */
  from: z.string().min(1).default("hypwatch <hypwatch@localhost>"),
  /** Domain of the bot's own Message-IDs: mail carrying it is never answered. */
  messageIdDomain: z
    .string()
    .regex(/^[A-Za-z0-9.-]+$/, "a domain name")
    .default("hypwatch.localhost"),
  /** Maildir the dry run writes to. Default: `<cacheDir>/outbox`. */
  outboxDir: z.string().min(1).optional(),
  /** Where mail is sent when a list's replies are switched to `send`. */
  smtp: z
    .strictObject({
      host: z.string().min(1),
      port: z.number().int().positive().max(65535).default(587),
      /** TLS from the first byte (465); off: STARTTLS when offered. */
      secure: z.boolean().default(false),
      user: z.string().min(1).optional(),
      passwordEnv: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name")
        .default("HYPWATCH_SMTP_PASSWORD"),
    })
    .optional(),
});

export type MailConfig = z.infer<typeof mailSchema>;

/** One mailing list watched: where its mail comes from, and the tree its series apply to. */
export const listSchema = z.strictObject({
  /** Names the list in logs, reports and stored state, e.g. `kvmarm`. */
  name: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9._-]*$/,
      "lowercase letters and digits, and '.', '_' or '-' after the first",
    ),
  /** Read together: a message any of them has is the list's. */
  sources: z
    .array(sourceSchema)
    .min(1)
    .superRefine((sources, ctx) => {
      const seen = new Map<string, number>();
      sources.forEach((source, i) => {
        const id = sourceId(source);
        const first = seen.get(id);
        if (first === undefined) seen.set(id, i);
        else
          ctx.addIssue({ code: "custom", path: [i], message: `same source as sources.${first}` });
      });
    }),
  /** A git URL or path. Default: the top-level `tree`. */
  tree: z.string().min(1).optional(),
  /** Refs tried in order when a series has no usable `base-commit:`. Default: the top level's. */
  baseCandidates: z.array(z.string().min(1)).optional(),
  /** The list's posting address, Cc'd on replies in `list` mode when the thread lacks it. */
  address: z.string().email().optional(),
  /** Replies on the list. Default: the top-level `reply`. */
  reply: replyPolicySchema.optional(),
});

export type ListConfig = z.infer<typeof listSchema>;

/** When the service acts on what it has assembled, and how much it re-reads. */
export const policiesSchema = z
  .strictObject({
    /** An incomplete newest revision is checked as "partial" after this wait. */
    partialWaitSeconds: z
      .number()
      .positive()
      .default(24 * 3600),
    /** Messages per list re-assembled when mail arrives. */
    assemblyWindowMessages: z.number().int().positive().default(5000),
    /** The oldest part of the window: read, so its series are whole, never acted on. */
    assemblyMarginMessages: z.number().int().nonnegative().default(1000),
    /** Seconds between fetches of a list's tree. */
    treeFetchIntervalSeconds: z.number().positive().default(3600),
  })
  .superRefine((policies, ctx) => {
    if (policies.assemblyMarginMessages >= policies.assemblyWindowMessages) {
      ctx.addIssue({
        code: "custom",
        path: ["assemblyMarginMessages"],
        message: "must be less than assemblyWindowMessages, or no message is acted on",
      });
    }
  });

export type PoliciesConfig = z.infer<typeof policiesSchema>;

/** The one configuration schema: the CLI, the workers and docs/config.md all use it. */
export const configSchema = z.strictObject({
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
  mailLimits: z.strictObject(mailLimitsSchema.shape).default(DEFAULT_MAIL_LIMITS),
  service: serviceSchema.default(serviceSchema.parse({})),
  build: buildSchema.default(buildSchema.parse({})),
  imap: imapSchema.optional(),
  lore: loreSchema.default(loreSchema.parse({})),
  epochs: epochsSchema.default(epochsSchema.parse({})),
  /** The lists watched, each with its own sources (the file's business; none from the environment). */
  lists: z
    .array(listSchema)
    .superRefine((lists, ctx) => {
      const seen = new Map<string, number>();
      lists.forEach((list, i) => {
        const first = seen.get(list.name);
        if (first === undefined) seen.set(list.name, i);
        else {
          const message = `list name "${list.name}" is taken by lists.${first}`;
          ctx.addIssue({ code: "custom", path: [i, "name"], message });
        }
      });
    })
    .default([]),
  policies: policiesSchema.default(policiesSchema.parse({})),
  mail: mailSchema.default(mailSchema.parse({})),
  reply: replyPolicySchema.default(replyPolicySchema.parse({})),
  /** Issues in a GitHub repository, one per series (docs/github.md). Unset: no issues. */
  github: z
    .strictObject({
      /** The repository the issues go to, `owner/name`. */
      repo: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, "owner/name"),
      /** The REST API: GitHub's, or a GitHub Enterprise Server's `https://HOST/api/v3`. */
      apiUrl: z.string().url().default("https://api.github.com"),
      /** The variable holding the token (never the file). Empty: no issues. */
      tokenEnv: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name")
        .default("HYPWATCH_GITHUB_TOKEN"),
      /** Lists whose series get issues. Default: all. */
      lists: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  /**
   * Scheduled digests (src/notify/digest.ts, docs/digest.md): each mails what was checked on
   * its lists since its previous run. Dry run unless `send`: written to `mail.outboxDir`.
   */
  digests: z
    .array(
      z.strictObject({
        /** Names the digest in its subject, its scheduler and its ledger keys. */
        name: z
          .string()
          .regex(/^[a-z0-9][a-z0-9._-]*$/, "lowercase letters, digits, '.', '_', '-'"),
        /** The lists it covers (names of `lists`); empty: every list. */
        lists: z.array(z.string().min(1)).default([]),
        /** Who receives it: a list's address, or subscribers'. */
        to: z.array(z.string().email()).min(1),
        /** Cron pattern of its runs, in UTC; each digests the time since the previous run. */
        schedule: z.string().min(1).default("0 6 * * *"),
        /** Send over SMTP (`mail.smtp`); off: write it to the outbox Maildir instead. */
        send: z.boolean().default(false),
      }),
    )
    .superRefine((digests, ctx) => {
      const seen = new Map<string, number>();
      digests.forEach((digest, i) => {
        const first = seen.get(digest.name);
        if (first === undefined) seen.set(digest.name, i);
        else {
          const message = `digest name "${digest.name}" is taken by digests.${first}`;
          ctx.addIssue({ code: "custom", path: [i, "name"], message });
        }
      });
    })
    .default([]),
});

export type Config = z.infer<typeof configSchema>;

/** A list's tree: its own, else the top-level one (unset: Debian's linux-source-6.1). */
export function listTree(list: ListConfig, config: Config): string | undefined {
  return list.tree ?? config.tree;
}

/** A list's reply policy: its own, else the top-level one. */
export function listReplyPolicy(list: ListConfig, config: Config): ReplyPolicy {
  return list.reply ?? config.reply;
}

/** A list's base candidates: its own, else the top-level ones. */
export function listBaseCandidates(list: ListConfig, config: Config): string[] {
  return list.baseCandidates ?? config.baseCandidates;
}

function decodeOrKeep(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Secret values in a configuration, for `registerSecrets`: passwords and tokens in URLs, and
 * IMAP passwords, the lists' ones read from the variables their sources name.
 */
export function configSecrets(config: Config, env: NodeJS.ProcessEnv = process.env): string[] {
  const urls = [config.redisUrl, config.tree, config.lore.url, config.epochs.url];
  for (const list of config.lists) {
    urls.push(list.tree);
    for (const source of list.sources) {
      if (source.type === "lore" || source.type === "epochs") urls.push(source.url);
    }
  }
  const secrets: string[] = [];
  for (const url of urls) {
    const userInfo = url && /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]+)@/i.exec(url)?.[1];
    if (!userInfo) continue;
    // `user:password` keeps its user name; a lone name is a token (`https://TOKEN@host`).
    const secret = userInfo.includes(":") ? userInfo.slice(userInfo.indexOf(":") + 1) : userInfo;
    secrets.push(secret, decodeOrKeep(secret));
  }
  if (config.imap) secrets.push(config.imap.password);
  const smtpPassword = config.mail.smtp && env[config.mail.smtp.passwordEnv];
  if (smtpPassword) secrets.push(smtpPassword);
  const githubToken = config.github && env[config.github.tokenEnv];
  if (githubToken) secrets.push(githubToken);
  for (const list of config.lists) {
    for (const source of list.sources) {
      const password = source.type === "imap" ? sourcePassword(source, env) : undefined;
      if (password) secrets.push(password);
    }
  }
  return secrets;
}

const number = (value: string): number | undefined => (value ? Number(value) : undefined);
const text = (value: string): string | undefined => value || undefined;
const list = (value: string): string[] =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const flag = (value: string): boolean | undefined => {
  const word = value.trim().toLowerCase();
  return word ? !["0", "false", "no", "off"].includes(word) : undefined;
};

/**
 * Every environment variable of the configuration: its name, the key it sets (dotted), and
 * how its text becomes the value (undefined: as if unset). A variable that is set wins over
 * the file.
 */
export const CONFIG_ENV: readonly (readonly [string, string, (value: string) => unknown])[] = [
  ["HYPWATCH_RELEVANT_PATHS", "relevantPaths", list],
  ["HYPWATCH_LINUX_TREE", "tree", text],
  ["HYPWATCH_BASE_CANDIDATES", "baseCandidates", list],
  ["HYPWATCH_CACHE", "cacheDir", text],
  ["HYPWATCH_UNTHREADED_WINDOW", "unthreadedWindowSeconds", number],
  ["HYPWATCH_REDIS_URL", "redisUrl", text],
  ...Object.entries(MAIL_LIMIT_ENV).map(
    ([key, name]) => [name, `mailLimits.${key}`, number] as const,
  ),
  ["HYPWATCH_SCAN_TIME_LIMIT", "service.scanTimeLimitSeconds", number],
  ["HYPWATCH_CHECK_TIME_LIMIT", "service.checkTimeLimitSeconds", number],
  ["HYPWATCH_SHUTDOWN_DEADLINE", "service.shutdownDeadlineSeconds", number],
  ["HYPWATCH_LOG_LEVEL", "service.logLevel", text],
  ["HYPWATCH_QUEUE_PREFIX", "service.queuePrefix", text],
  ["HYPWATCH_METRICS_PORT", "service.metricsPort", number],
  ["HYPWATCH_METRICS_HOST", "service.metricsHost", text],
  ["HYPWATCH_SANDBOX_UID", "build.sandboxUid", number],
  ["HYPWATCH_SANDBOX_GID", "build.sandboxGid", number],
  ["HYPWATCH_BUILD_TIME_LIMIT", "build.buildTimeLimitSeconds", number],
  ["HYPWATCH_SERIES_TIME_LIMIT", "build.seriesTimeLimitSeconds", number],
  ["HYPWATCH_CONFIGS_SIDE_BY_SIDE", "build.configsSideBySide", number],
  ["HYPWATCH_COMPILER_CACHE", "build.compilerCache", flag],
  ["HYPWATCH_BUILD_MEMORY", "build.memoryBytes", number],
  ["HYPWATCH_BUILD_PROCESSES", "build.processes", number],
  ["HYPWATCH_BUILD_FILE_BYTES", "build.fileBytes", number],
  ["HYPWATCH_BUILD_DISK_BYTES", "build.diskBytes", number],
  ["HYPWATCH_BUILD_DISK_FILES", "build.diskFiles", number],
  ["HYPWATCH_IMAP_HOST", "imap.host", text],
  ["HYPWATCH_IMAP_PORT", "imap.port", number],
  ["HYPWATCH_IMAP_TLS", "imap.tls", flag],
  ["HYPWATCH_IMAP_USER", "imap.user", text],
  ["HYPWATCH_IMAP_PASSWORD", "imap.password", text],
  ["HYPWATCH_IMAP_MAILBOX", "imap.mailbox", text],
  ["HYPWATCH_LORE_URL", "lore.url", text],
  ["HYPWATCH_LORE_POLL_INTERVAL", "lore.pollIntervalSeconds", number],
  ["HYPWATCH_LORE_CONTACT", "lore.contact", text],
  ["HYPWATCH_EPOCHS_URL", "epochs.url", text],
  ["HYPWATCH_EPOCHS_POLL_INTERVAL", "epochs.pollIntervalSeconds", number],
  ["HYPWATCH_PARTIAL_WAIT", "policies.partialWaitSeconds", number],
  ["HYPWATCH_ASSEMBLY_WINDOW", "policies.assemblyWindowMessages", number],
  ["HYPWATCH_ASSEMBLY_MARGIN", "policies.assemblyMarginMessages", number],
  ["HYPWATCH_TREE_FETCH_INTERVAL", "policies.treeFetchIntervalSeconds", number],
  ["HYPWATCH_MAIL_FROM", "mail.from", text],
  ["HYPWATCH_MAIL_OUTBOX", "mail.outboxDir", text],
];

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * `value` at the dotted `key` of `tree`, creating the sections on the way; false when the
 * file has something else than a section there, which the schema then names.
 */
function setKey(tree: Tree, key: string, value: unknown): boolean {
  const parts = key.split(".");
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    const next = node[part];
    if (!isTree(next)) return false;
    node = next;
  }
  node[parts[parts.length - 1] as string] = value;
  return true;
}

/** The configuration file as a tree of plain values; a file that is not one is a ConfigError. */
function readConfigFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([`${file}: cannot be read: ${reason}`]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((error) => {
        const at = error.linePos?.[0];
        const message = error.message.split("\n")[0]?.replace(/ at line \d+, column \d+:$/, "");
        return at ? `${file}:${at.line}:${at.col}: ${message}` : `${file}: ${message}`;
      }),
    );
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([`${file}: ${reason}`]);
  }
  if (value === null || value === undefined) return {};
  if (!isTree(value)) throw new ConfigError([`${file}: the top level must be a mapping of keys`]);
  const imap = value.imap;
  if (isTree(imap) && "password" in imap) {
    throw new ConfigError([
      `${file}: imap.password: secrets are not read from the file; set HYPWATCH_IMAP_PASSWORD`,
    ]);
  }
  return value;
}

/** One line per zod issue: where the value came from, then the key's dotted path. */
function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  origin: (key: string) => string,
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const at = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const dotted = [...at, key].join(".");
        const hint =
          key === "password" ? "; passwords are read from the environment (passwordEnv)" : "";
        lines.push(`${origin(dotted)}: ${dotted}: unknown key${hint}`);
      }
      continue;
    }
    const dotted = at.join(".");
    lines.push(`${origin(dotted)}: ${dotted || "(top level)"}: ${issue.message}`);
  }
  return lines;
}

/**
 * Read the configuration (injectable for tests): the YAML file `file`, else the one
 * `HYPWATCH_CONFIG` names, if any, with every variable of CONFIG_ENV that is set overriding
 * its key. A file, a value or a key that cannot be used is a ConfigError naming each.
 */
export function readConfig(env: NodeJS.ProcessEnv = process.env, file?: string): Config {
  const configFile = file ?? (env.HYPWATCH_CONFIG || undefined);
  const tree = configFile ? readConfigFile(configFile) : {};
  const fromFile = isTree(tree.imap);
  const fromEnv = new Map<string, string>();
  for (const [name, key, parse] of CONFIG_ENV) {
    const raw = env[name];
    if (raw === undefined) continue;
    // The IMAP variables make an `imap` section only with a host, as they always did.
    if (key.startsWith("imap.") && !env.HYPWATCH_IMAP_HOST && !fromFile) continue;
    const value = parse(raw);
    if (value === undefined) continue;
    if (setKey(tree, key, value)) fromEnv.set(key, name);
  }
  const parsed = configSchema.safeParse(tree);
  if (parsed.success) return parsed.data;
  const names = new Map(CONFIG_ENV.map(([name, key]) => [key, name]));
  const origin = (key: string): string =>
    fromEnv.get(key) ?? configFile ?? names.get(key) ?? "environment";
  throw new ConfigError(describeIssues(parsed.error.issues, origin));
}
