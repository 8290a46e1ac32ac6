#!/usr/bin/env node
import { existsSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { configSecrets, readConfig, type Config } from "../config.js";
import { errorMessage, redact, registerSecrets } from "../log.js";
import { loreUserAgent } from "../intake/index.js";
import { threadLocation, withFetchedThread } from "../intake/lore-thread.js";
import { BUILD_CONFIGS, ensureTree, type BuildConfigName } from "../apply/index.js";
import { checkSeries } from "../pipeline/check.js";
import { scanSource } from "../pipeline/scan.js";
import {
  checkRequest,
  patchesFromFiles,
  selectSeries,
  type SelectedSeries,
} from "../pipeline/select.js";
import { renderCheckText } from "../report/check.js";
import { escapeText } from "../report/escape.js";
import { createProgress } from "../report/progress.js";
import { renderScanTable, scanOutput } from "../report/scan.js";
import { packageVersion } from "../version.js";

const program = new Command()
  .name("hypwatch")
  .description("Finds arm64 KVM patch series in list mail and checks their hyp code");

/** The configuration, its secrets known to `redact` before anything can print them. */
function loadConfig(): Config {
  const config = readConfig();
  registerSecrets(configSecrets(config));
  return config;
}

/**
 * Run `use` on a source named on the command line: a path as it is; a Message-ID or a lore
 * URL (as `b4 am` takes them) fetched as its thread's `t.mbox.gz` from its inbox, or from
 * `HYPWATCH_LORE_URL` (lore's `all` inbox by default).
 */
async function withSource<T>(
  arg: string,
  config: Config,
  use: (source: string) => Promise<T>,
): Promise<T> {
  const location = existsSync(arg) ? null : threadLocation(arg, config.lore.url);
  if (!location) return use(arg);
  process.stderr.write(`hypwatch: fetching ${redact(location.url)}\n`);
  const userAgent = loreUserAgent(packageVersion(), config.lore.contact);
  return withFetchedThread(location, { userAgent, limits: config.mailLimits }, use);
}

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a whole number");
  return n;
};

program
  .command("scan")
  .description(
    "read list mail (mbox, mbox.gz, Maildir, .eml, public-inbox git) and list its series",
  )
  .argument(
    "<source>",
    "an mbox/mboxrd file, t.mbox.gz, Maildir, .eml, public-inbox epoch(s), or a Message-ID or lore URL",
  )
  .option("--json", "print the documented JSON shape (docs/json.md)")
  .option("--since <commit>", "public-inbox: resume after this commit")
  .option("--relevant-only", "list only series that touch arm64 KVM")
  .option("--workers <n>", "parsing threads (0: none)", positiveInt)
  .action(
    async (
      source: string,
      opts: { json?: boolean; since?: string; relevantOnly?: boolean; workers?: number },
    ) => {
      const config = loadConfig();
      const result = await withSource(source, config, (path) =>
        scanSource(path, config, {
          ...(opts.since ? { since: opts.since } : {}),
          ...(opts.workers === undefined ? {} : { workers: opts.workers }),
          onError: (error) => process.stderr.write(`hypwatch: ${errorMessage(error)}\n`),
        }),
      );
      const output = scanOutput(result, opts.relevantOnly);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
      } else {
        process.stdout.write(`${renderScanTable(output.series, output.summary)}\n`);
      }
    },
  );

const CONFIG_NAMES = Object.keys(BUILD_CONFIGS) as BuildConfigName[];

const configList = (value: string): BuildConfigName[] => {
  const names = value.split(",").map((v) => v.trim());
  for (const name of names)
    if (!CONFIG_NAMES.includes(name as BuildConfigName))
      throw new InvalidArgumentError(`known configurations: ${CONFIG_NAMES.join(", ")}`);
  return names as BuildConfigName[];
};

interface CheckOptions {
  tree?: string;
  mbox?: string;
  patch?: string[];
  base?: string;
  json?: boolean;
  configs?: BuildConfigName[];
  rebuildBase?: boolean;
  everyStep?: boolean;
  reply?: boolean;
}

program
  .command("check")
  .description("apply a series to a kernel tree and check its hyp code; no series: audit the tree")
  .option("--tree <dir>", "kernel git tree (path or URL); default: Debian's linux-source-6.1")
  .option(
    "--mbox <file>",
    "a thread or series (mbox, t.mbox.gz, Maildir, .eml): its newest complete revision is checked",
  )
  .option("--patch <file...>", "patch files (git format-patch), in order")
  .option("--base <rev>", "check on this revision instead of base-commit / candidates / HEAD")
  .option(
    "--configs <names>",
    `build configurations, comma-separated (${CONFIG_NAMES.join(", ")}); default defconfig,instrumented`,
    configList,
  )
  .option("--rebuild-base", "build and analyze the base again, even if an earlier check stored it")
  .option(
    "--every-step",
    "build every patch in turn, to find a problem one patch brings in and a later one removes (default: the base and the final state, then each patch only to attribute findings)",
  )
  .option("--json", "print the documented JSON shape (docs/json.md)")
  .option(
    "--reply",
    "print, as an mbox, the replies the bot would send on the list for this series (nothing is sent)",
  )
  .argument("[thread]", "a Message-ID or lore URL: its thread is fetched, as `b4 am` does")
  .action(async (thread: string | undefined, opts: CheckOptions) => {
    const config = loadConfig();
    const mbox = thread ?? opts.mbox;
    if ([thread, opts.mbox, opts.patch].filter(Boolean).length > 1)
      throw new InvalidArgumentError("give one of a thread, --mbox or --patch");
    // What a first run spends minutes on, on stderr (a bar on a terminal, lines in logs).
    const progress = createProgress({ stream: process.stderr });
    try {
      const repo = await ensureTree({
        tree: opts.tree ?? config.tree,
        cacheDir: config.cacheDir,
        onProgress: (e) => {
          const first = "preparing the kernel tree (first run only)";
          if (e.phase === "extracting") {
            progress.stage(`${first}: extracting ${e.tarball}`, {
              total: e.totalBytes,
              unit: "bytes",
              done: e.bytesRead,
            });
          } else if (e.phase === "committing") progress.stage(`${first}: committing it to git`);
          else progress.stage(`cloning ${e.url} (first run only)`);
        },
      });
      progress.done(`ready in ${repo}`);
      const selected: SelectedSeries = mbox
        ? await withSource(mbox, config, (source) =>
            selectSeries(source, config, {
              onError: (error) => process.stderr.write(`hypwatch: ${escapeText(error.message)}\n`),
            }),
          )
        : opts.patch
          ? await patchesFromFiles(opts.patch)
          : { series: null, patches: [], baseCommit: null };
      const result = await checkSeries({
        ...checkRequest(repo, selected, config, {
          base: opts.base ?? null,
          ...(opts.configs ? { configs: opts.configs } : {}),
          ...(opts.rebuildBase ? { reuseBase: false } : {}),
        }),
        ...(opts.everyStep ? { steps: "every" as const } : {}),
        onProgress: (e) => {
          if (e.phase === "applying") {
            progress.stage(e.patches > 0 ? "applying the series" : "checking out the tree");
            return;
          }
          const at = e.step === 0 ? "the base" : `patch ${e.step} of ${e.steps - 1}`;
          const what =
            e.phase !== "built"
              ? `${e.phase} ${e.config}`
              : `${e.config} ${e.ok ? "built" : "failed"}`;
          progress.stage("checking the hyp code", {
            total: e.total,
            unit: "builds",
            done: e.done,
            detail: `${what} for ${at}`,
          });
        },
      });
      progress.done();
      if (opts.reply) {
        if (!selected.series) throw new InvalidArgumentError("--reply needs a series");
        const { replyMbox } = await import("./reply.js");
        const mbox = await replyMbox(config, selected, result);
        if (mbox === "")
          process.stderr.write(
            "hypwatch: no reply: the reply policy (`reply` in the config, docs/replies.md) is quiet on this verdict\n",
          );
        process.stdout.write(mbox);
      } else
        process.stdout.write(
          opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${renderCheckText(result)}\n`,
        );
      if (result.findings.some((f) => f.severity === "error") || result.tree.baseCommit === null)
        process.exitCode = 1;
    } finally {
      progress.done();
    }
  });

program
  .command("serve")
  .description("run this machine's scan and check workers on the shared Redis (HYPWATCH_REDIS_URL)")
  .option("--check-concurrency <n>", "checks at once on this machine", positiveInt)
  .action(async (opts: { checkConcurrency?: number }) => {
    // Loaded here, not at the top: BullMQ and ioredis are for `serve` alone.
    const { startService } = await import("../../workers/serve.js");
    const { stopOnSignals } = await import("../../workers/shutdown.js");
    const config = loadConfig();
    const { metricsHost: host, metricsPort: port } = config.service;
    const service = startService(config, {
      ...(opts.checkConcurrency ? { checkConcurrency: opts.checkConcurrency } : {}),
      ...(port !== 0 ? { web: { host, port } } : {}),
    });
    stopOnSignals(service, {
      deadlineMs: config.service.shutdownDeadlineSeconds * 1000,
      exit: (code) => process.exit(code),
    });
    try {
      await service.ready();
    } catch (error) {
      // A configuration the service cannot start with (a list's source, a port in use):
      // stop the workers already started, so that the error ends the process.
      await service.close();
      throw error;
    }
    service.log.info({ queues: service.workers.map((w) => w.name) }, "workers ready");
  });

program
  .command("status")
  .description("print queue depths, each source's checkpoint and the latest verdicts")
  .option("--latest <n>", "verdicts to list", positiveInt, 10)
  .action(async (opts: { latest: number }) => {
    const { openStore } = await import("../../workers/check.js");
    const { readStatus } = await import("../../workers/status.js");
    const { renderStatus } = await import("../report/status.js");
    const config = loadConfig();
    const store = openStore(config);
    try {
      process.stdout.write(`${renderStatus(await readStatus(config, store, opts.latest))}\n`);
    } finally {
      store.redis.disconnect();
    }
  });

program
  .command("backfill")
  .description("store a list's existing mail in the service's state, with progress")
  .argument(
    "<source>",
    "any source `scan` reads: an archive, mbox, Maildir, Message-ID or lore URL",
  )
  .requiredOption("--list <name>", "the configured list the mail belongs to")
  .option("--check", "queue checks of the newest revisions found (default: record them only)")
  .action(async (source: string, opts: { list: string; check?: boolean }) => {
    const { runBackfill } = await import("../../workers/backfill.js");
    const config = loadConfig();
    await withSource(source, config, (path) =>
      runBackfill(config, { source: path, list: opts.list, check: opts.check === true }),
    );
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`hypwatch: ${errorMessage(error)}\n`);
  process.exitCode = 1;
});
