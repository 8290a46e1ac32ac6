/**
 * `npm run bench:pipeline [-- --source EPOCH --workers N]`
 *
 * The whole kvmarm archive through the service: two `hypwatch serve` processes watch it as a
 * public-inbox epochs source (a mirror of the corpus epoch), store every message in Redis
 * (AOF on, fsync every second, as docker-compose.yml runs it), assemble series as mail
 * arrives and queue a check per newest revision touching arm64 KVM (the check queue is
 * paused: the checks themselves are the compiler's time, measured by bench:check). Beside
 * it, in the same run, one-shot `hypwatch scan` of the same archive. Prints both rates and
 * their ratio; the target is at least 70% of the one-shot rate.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { StateStore } from "../src/state/store.js";
import { corpusPath } from "../test/corpus.js";
import { startPrivateRedis } from "../test/redis-server.js";
import {
  serveEnv,
  startServe,
  writeServiceConfig,
  type ServeProcess,
} from "../test/serve-process.js";
import { CHECK_QUEUE } from "../workers/check.js";
import { redisConnection } from "../workers/connection.js";

const TARGET_RATIO = 0.7;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    source: { type: "string", default: corpusPath("kvmarm-0.git") },
    workers: { type: "string", default: "2" },
  },
});
const say = (text: string) => process.stderr.write(`bench:pipeline: ${text}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One-shot `hypwatch scan` of the archive: messages and seconds. */
function oneShot(source: string): { messages: number; seconds: number } {
  const started = Date.now();
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "scan", source, "--json"],
    { cwd: ROOT, maxBuffer: 1024 * 1024 * 1024, encoding: "utf8" },
  );
  const seconds = (Date.now() - started) / 1000;
  const summary = (JSON.parse(out) as { summary: { messages: number } }).summary;
  return { messages: summary.messages, seconds };
}

async function service(source: string, workers: number) {
  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-bench-pipeline-"));
  const epochs = path.join(dir, "inbox");
  await mkdir(epochs);
  await symlink(path.resolve(source), path.join(epochs, "0.git"));
  const redis = await startPrivateRedis({ aofDir: dir, appendfsync: "everysec" });
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const config = await writeServiceConfig(dir, [{ type: "epochs", url: epochs }]);
  const queue = new Queue(CHECK_QUEUE, { connection: redisConnection(redis.url), prefix });
  await queue.pause();
  const client = new Redis(redis.url);
  const store = new StateStore(client, `${prefix}:state`);
  const env = serveEnv({ config, redisUrl: redis.url, prefix, cacheDir: path.join(dir, "cache") });
  const serves: ServeProcess[] = [];
  for (let i = 0; i < workers; i++) serves.push(startServe(env));
  await Promise.all(serves.map((s) => s.waitFor("workers ready", 120_000)));
  const started = Date.now();
  const total = Number(
    execFileSync("git", ["--git-dir", source, "rev-list", "--count", "HEAD"]).toString(),
  );
  // Done when the source's checkpoint is its last commit and the revisions were brought up
  // to date after it: at the time the watcher logs that last update (or, should it change
  // nothing and log nothing, when the checkpoint was seen).
  const last = execFileSync("git", ["--git-dir", source, "rev-parse", "HEAD"]).toString().trim();
  const updates = () => serves.flatMap((s) => s.lines()).filter((l) => l.msg === "series updated");
  let lastLog = Date.now();
  let reached: { at: number; updates: number } | null = null;
  let finished: number;
  for (;;) {
    if (!reached) {
      const checkpoints = Object.values(await store.checkpoints());
      if (checkpoints.some((c) => c.includes(last)))
        reached = { at: Date.now(), updates: updates().length };
    }
    if (reached) {
      const after = updates()[reached.updates];
      if (after) {
        finished = Date.parse(String(after.time));
        break;
      }
      if (Date.now() - reached.at > 10_000) {
        finished = reached.at;
        break;
      }
    }
    if (Date.now() - lastLog > 5000) {
      say(`${await store.messageCount("kvmarm")} of ${total} messages stored`);
      lastLog = Date.now();
    }
    await sleep(100);
  }
  const seconds = (finished - started) / 1000;
  const stored = await store.messageCount("kvmarm");
  const counts = await queue.getJobCounts();
  const memory = /used_memory:(\d+)/.exec(await client.info("memory"))?.[1];
  for (const s of serves) s.proc.kill("SIGTERM");
  await Promise.all(serves.map((s) => s.exited(Date.now())));
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  client.disconnect();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
  return { total, stored, seconds, queued: counts, redisMB: Number(memory) / 1e6 };
}

const source = values.source;
say(`one-shot scan of ${source}`);
const scan = oneShot(source);
say(`the service, ${values.workers} serve processes`);
const svc = await service(source, Number(values.workers));
const scanRate = scan.messages / scan.seconds;
const svcRate = svc.stored / svc.seconds;
const queued = Object.entries(svc.queued)
  .map(([k, v]) => `${k} ${v}`)
  .join(", ");
process.stdout.write(
  [
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
    `one-shot scan:   ${scan.messages} messages in ${scan.seconds.toFixed(1)} s, ${scanRate.toFixed(0)} messages/s`,
    `service:         ${svc.stored} of ${svc.total} messages stored in ${svc.seconds.toFixed(1)} s, ${svcRate.toFixed(0)} messages/s; checks queued: ${queued}; Redis used_memory ${svc.redisMB.toFixed(0)} MB`,
    `ratio:           ${((svcRate / scanRate) * 100).toFixed(0)}% of one-shot (target ${TARGET_RATIO * 100}%)`,
    "",
  ].join("\n"),
);
