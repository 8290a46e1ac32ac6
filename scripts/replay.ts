/**
 * `npm run replay [-- options]`: the kvmarm archive from a date to its end, delivered message
 * by message in archive order into a real local peer (public-inbox-httpd read as lore, or
 * Dovecot read over IMAP) at an accelerated rate, while real `hypwatch serve` processes
 * watch it and check what arrives with the real compiler. Optionally kills worker
 * processes with SIGKILL (each replaced at once, as a supervisor would) and restarts Redis.
 * Prints what was ingested, the verdicts by kind, checks run twice, series missed, and the
 * latency from a series' last message being delivered to its verdict.
 *
 *   --via lore|imap      the peer (default lore)
 *   --from YYYY-MM-DD    first message by archive date (default 2022-06-01)
 *   --rate N             messages delivered per second (default: 1.5 lore, 5 imap); lore's
 *                        new.atom lists 25, so the watcher catches up through the inbox's
 *                        search whenever more than that arrive between two polls
 *   --workers N          serve processes (default 2)
 *   --kills N            SIGKILLs of a worker process, spread over the delivery (default 0)
 *   --redis-restart      restart Redis once, midway
 *   --partial-wait S     seconds before an incomplete revision is checked (default 300)
 *   --settle-minutes M   how long to wait for the queues to drain after delivery (default 120)
 *   --out FILE           write each relevant series' verdicts (JSON) to FILE
 *   --compare FILE       compare them with those another run wrote with --out
 *   --logs DIR           write each serve process's log lines to DIR/serve-<pid>.log
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Queue } from "bullmq";
import { ImapFlow } from "imapflow";
import { Redis } from "ioredis";
import { readPublicInbox } from "../src/intake/publicInbox.js";
import { parseOne } from "../src/intake/parseBatch.js";
import type { RawMail } from "../src/mail/types.js";
import type { SeriesMail } from "../src/series/index.js";
import { StateStore } from "../src/state/store.js";
import { corpusPath } from "../test/corpus.js";
import { startPrivateDovecot } from "../test/dovecot-server.js";
import { linuxTree, testCacheDir } from "../test/linux-tree.js";
import { startPublicInbox } from "../test/public-inbox-server.js";
import { startPrivateRedis } from "../test/redis-server.js";
import { oneShotSeries } from "../test/series-helpers.js";
import {
  serveEnv,
  startServe,
  writeServiceConfig,
  type ServeProcess,
} from "../test/serve-process.js";
import { CHECK_QUEUE, stepsJobId } from "../workers/check.js";
import { redisConnection } from "../workers/connection.js";

const { values: args } = parseArgs({
  options: {
    via: { type: "string", default: "lore" },
    from: { type: "string", default: "2022-06-01" },
    rate: { type: "string" },
    workers: { type: "string", default: "2" },
    kills: { type: "string", default: "0" },
    "redis-restart": { type: "boolean", default: false },
    "partial-wait": { type: "string", default: "300" },
    "settle-minutes": { type: "string", default: "120" },
    out: { type: "string" },
    compare: { type: "string" },
    logs: { type: "string" },
  },
});
const via = args.via === "imap" ? "imap" : "lore";
const rate = Number(args.rate ?? (via === "lore" ? 1.5 : 5));
const ARCHIVE = corpusPath("kvmarm-0.git");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (text: string) => process.stderr.write(`replay: ${text}\n`);

/** The archive's messages from `from` on, in archive (commit) order. */
async function messagesFrom(from: string): Promise<RawMail[]> {
  const since = Date.parse(from) / 1000;
  const log = execFileSync("git", ["--git-dir", ARCHIVE, "log", "--reverse", "--format=%H %ct"], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const commits = log
    .trim()
    .split("\n")
    .map((l) => l.split(" "));
  const first = commits.findIndex(([, t]) => Number(t) >= since);
  if (first < 0) throw new Error(`no message after ${from}`);
  const before = commits[first - 1]?.[0];
  const out: RawMail[] = [];
  for await (const mail of readPublicInbox(ARCHIVE, before ? { since: before } : {}))
    out.push(mail);
  return out;
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const mails = await messagesFrom(args.from);
  const planned = await oneShotSeries(mails);
  say(
    `${mails.length} messages from ${args.from}; one-shot assembly: ${planned.series.length} series, ` +
      `${planned.relevant.length} newest revisions touching arm64 KVM`,
  );
  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-replay-"));
  const redis = await startPrivateRedis({ aofDir: dir });
  const prefix = `replay-${randomUUID().slice(0, 8)}`;
  const password = randomUUID();
  const peer =
    via === "lore"
      ? { lore: await startPublicInbox("kvmarm", { delivery: "stream" }) }
      : { imap: await startPrivateDovecot(password) };
  const source = peer.lore
    ? { type: "lore", url: peer.lore.inboxUrl, pollIntervalSeconds: 30 }
    : { type: "imap", host: "127.0.0.1", port: peer.imap?.port, tls: false, user: peer.imap?.user };
  const config = await writeServiceConfig(dir, [source], {
    partialWaitSeconds: Number(args["partial-wait"]),
  });
  const env = {
    ...serveEnv({
      config,
      redisUrl: redis.url,
      prefix,
      // One cache per peer, so that two replays can run side by side.
      cacheDir: path.join(testCacheDir(), "..", `replay-${via}`),
      tree: await linuxTree(),
    }),
    HYPWATCH_IMAP_PASSWORD: password,
  };
  const serves: ServeProcess[] = [];
  const startWorker = async () => {
    const serve = startServe(env);
    serves.push(serve);
    await serve.waitFor("workers ready", 120_000);
  };
  for (let i = 0; i < Number(args.workers); i++) await startWorker();
  const alive = () => serves.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null);

  const imap = peer.imap
    ? new ImapFlow({
        host: "127.0.0.1",
        port: peer.imap.port,
        secure: false,
        auth: { user: peer.imap.user, pass: password },
        logger: false,
      })
    : null;
  await imap?.connect();
  const deliver = async (raw: Buffer) =>
    // Stamped with its arrival, as lore's mail server does (what its search calls `rt:`).
    peer.lore
      ? peer.lore.deliver(raw, { received: new Date() })
      : void (await imap?.append("INBOX", raw));

  const kills = Number(args.kills);
  const killAt = new Set(
    Array.from({ length: kills }, (_, i) => Math.floor(((i + 1) * mails.length) / (kills + 1))),
  );
  const restartAt = args["redis-restart"] ? Math.floor(mails.length / 2) + 7 : -1;
  const deliveredAt = new Map<string, number>();
  const refused: RawMail[] = [];
  const started = Date.now();
  for (const [i, mail] of mails.entries()) {
    const due = started + (i / rate) * 1000;
    if (due > Date.now()) await sleep(due - Date.now());
    try {
      await deliver(mail.raw);
    } catch (error) {
      // The peer refused it: the service cannot see it, so it is not expected either.
      refused.push(mail);
      say(`message ${i} refused by the peer: ${String(error).split("\n")[0]}`);
      continue;
    }
    const id = await parseOne(mail, "summary");
    if (id.ok) deliveredAt.set((id.value as SeriesMail).messageId, Date.now());
    if (killAt.has(i)) {
      const victim = alive()[Math.floor(Math.random() * alive().length)];
      victim?.proc.kill("SIGKILL");
      say(`message ${i}: SIGKILL to worker ${victim?.proc.pid}; starting another`);
      await startWorker();
    }
    if (i === restartAt) {
      say(`message ${i}: restarting Redis`);
      await redis.stop();
      await sleep(2000);
      await redis.start();
    }
    if (i % 500 === 499) say(`${i + 1} of ${mails.length} delivered`);
  }
  await imap?.logout();
  say(
    `delivered ${mails.length} messages in ${seconds(Date.now() - started)}; waiting for the checks`,
  );

  const client = new Redis(redis.url);
  const store = new StateStore(client, `${prefix}:state`);
  const queue = new Queue(CHECK_QUEUE, { connection: redisConnection(redis.url), prefix });
  const settleBy = Date.now() + Number(args["settle-minutes"]) * 60_000;
  // Settled when no check that owes a verdict is waiting or running: steps jobs (every
  // patch built, in the background, after the verdict) are counted beside them, not waited on.
  const pendingJobs = async () => {
    const jobs = await queue.getJobs(["waiting", "active", "delayed", "prioritized"]);
    const steps = jobs.filter((j) => j?.id?.startsWith(stepsJobId("")));
    return { checks: jobs.length - steps.length, steps: steps.length };
  };
  let quiet = 0;
  let pending = await pendingJobs();
  while (Date.now() < settleBy && quiet < 3) {
    await sleep(20_000);
    pending = await pendingJobs();
    quiet = pending.checks === 0 ? quiet + 1 : 0;
    say(
      `checks pending ${pending.checks}, verdicts ${await store.verdictCount()}; steps jobs pending ${pending.steps}`,
    );
  }
  const settledAfter = Date.now() - started;

  const delivered = mails.filter((m) => !refused.includes(m));
  const expected = refused.length > 0 ? await oneShotSeries(delivered) : planned;
  const verdicts = await store.latestVerdicts(100_000);
  const revisions = new Map(
    (await Promise.all(verdicts.map((v) => store.revision(v.revision)))).map((r) => [r?.key, r]),
  );
  const reported = new Map<string, number>();
  for (const e of await store.outbox("0", 1_000_000))
    reported.set(e.checkKey, (reported.get(e.checkKey) ?? 0) + 1);
  const runsByKey = await store.runs();
  const runs = Object.values(runsByKey).map(Number);
  const withVerdict = new Set(verdicts.map((v) => v.checkKey));
  const unfinished = Object.keys(runsByKey).filter((k) => !withVerdict.has(k));
  const failed = await queue.getFailed();
  const byKind = new Map<string, number>();
  for (const v of verdicts) byKind.set(v.kind, (byKind.get(v.kind) ?? 0) + 1);
  const seen = new Set(
    verdicts.filter((v) => v.kind !== "superseded").map((v) => `${v.seriesId} v${v.version}`),
  );
  // A series whose patches came before its cover letter keeps the id it was stored under,
  // one of its patches' Message-IDs, where a one-shot assembly names it by its cover letter.
  const missed = expected.relevant.filter(
    (s) =>
      ![s.id, ...s.patches.map((p) => p.messageId)].some((id) => seen.has(`${id} v${s.version}`)),
  );
  const latencyOf = (v: (typeof verdicts)[number]) => {
    const series = revisions.get(v.revision)?.series;
    const ids = [series?.coverMessageId, ...(series?.patches.map((p) => p.messageId) ?? [])];
    const last = Math.max(...ids.map((id) => (id ? (deliveredAt.get(id) ?? 0) : 0)));
    return v.recordedAt - last;
  };
  const complete = verdicts.filter((v) => v.kind !== "superseded" && !v.partial);
  const latencies = complete.map(latencyOf);
  // Those that built the series (the others end at `git am` or at the base search).
  const built = complete.filter((v) => v.kind === "clean" || v.kind === "findings").map(latencyOf);
  const spread = (ms: number[]) =>
    `p50 ${seconds(percentile(ms, 50))}, p95 ${seconds(percentile(ms, 95))}, max ${seconds(Math.max(0, ...ms))}`;

  // Each relevant series (as one-shot assembly names it) with the kinds of its verdicts, in
  // the order they were recorded: what two runs of the same replay must agree on.
  const verdictsBySeries: Record<string, string[]> = {};
  for (const s of expected.relevant) {
    const names = new Set(
      [s.id, ...s.patches.map((p) => p.messageId)].map((id) => `${id} v${s.version}`),
    );
    verdictsBySeries[`${s.id} v${s.version}`] = verdicts
      .filter((v) => v.kind !== "superseded" && names.has(`${v.seriesId} v${v.version}`))
      .sort((a, b) => a.recordedAt - b.recordedAt)
      .map((v) => (v.partial ? `${v.kind} (partial)` : v.kind));
  }
  if (args.out) await writeFile(args.out, `${JSON.stringify(verdictsBySeries, null, 2)}\n`);
  const comparison: string[] = [];
  if (args.compare) {
    const other = JSON.parse(await readFile(args.compare, "utf8")) as Record<string, string[]>;
    const keys = [...new Set([...Object.keys(other), ...Object.keys(verdictsBySeries)])].sort();
    const last = (kinds: string[] | undefined) => kinds?.at(-1) ?? "none";
    const differing = keys.filter((k) => last(other[k]) !== last(verdictsBySeries[k]));
    comparison.push(
      `compared with ${args.compare}: ${keys.length - differing.length} of ${keys.length} series have the same final verdict` +
        differing
          .map((k) => `\n  ${k}: ${last(other[k])} there, ${last(verdictsBySeries[k])} here`)
          .join(""),
    );
  }

  const lines = [
    `peer: ${via}; ${Number(args.workers)} worker processes; ${kills} SIGKILLs; Redis restarted: ${args["redis-restart"] ? "yes" : "no"}`,
    `messages delivered: ${delivered.length} (refused by the peer: ${refused.length}); ingested: ${await store.messageCount("kvmarm")}`,
    `series (one-shot assembly): ${expected.series.length}; relevant newest revisions: ${expected.relevant.length}`,
    `checks run: ${runs.length} (started ${runs.reduce((a, b) => a + b, 0)} times; restarted after a kill: ${runs.filter((r) => r > 1).length})`,
    `verdicts: ${verdicts.length}; by kind: ${[...byKind].map(([k, n]) => `${k} ${n}`).join(", ")}`,
    `verdicts reported twice: ${[...reported.values()].filter((n) => n > 1).length}`,
    `checks started without a verdict: ${unfinished.length}; failed jobs: ${failed.length}${failed.map((j) => `\n  ${j.id}: ${j.failedReason}`).join("")}`,
    `series missed: ${missed.length}${missed.length ? ` (${missed.map((s) => `${s.id} v${s.version}`).join(", ")})` : ""}`,
    `checks still pending: ${pending.checks}; steps jobs (every patch built, after the verdict) still pending: ${pending.steps}; settled ${seconds(settledAfter)} after delivery began`,
    `latency, last message delivered -> verdict (complete revisions, ${latencies.length}): ${spread(latencies)}`,
    `  of which built (clean or findings, ${built.length}): ${spread(built)}`,
    ...comparison,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);

  for (const s of alive()) s.proc.kill("SIGTERM");
  await Promise.all(serves.map((s) => s.exited(Date.now())));
  if (args.logs) {
    await mkdir(args.logs, { recursive: true });
    for (const s of serves)
      await writeFile(path.join(args.logs, `serve-${s.proc.pid}.log`), s.output());
  }
  await queue.close();
  client.disconnect();
  await peer.lore?.stop();
  await peer.imap?.stop();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
}

await main();
