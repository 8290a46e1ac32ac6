import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { acquireSlot } from "../src/apply/slots.js";
import { configSchema, type Config } from "../src/config.js";
import { ingestMail } from "../src/pipeline/ingest.js";
import { updateRevisions, type CheckJobData } from "../src/pipeline/revisions.js";
import { StateStore } from "../src/state/store.js";
import { captureLog } from "../test/log-capture.js";
import { standInCheckQueue } from "../test/stand-in-check-queue.js";
import { testPolicy } from "../test/policy.js";
import { gicv2AsV2, gicv2Mails } from "../test/report-context.js";
import { dropKeys, TEST_REDIS_URL } from "../test/state.js";
import { CHECK_QUEUE, checkJobId, queueScheduler } from "./check.js";
import { redisConnection } from "./connection.js";
import { runningCheckKey } from "./fixtures/checks.js";
import { startService } from "./serve.js";

/** Alive and not a zombie: a killed process its parent has not reaped yet counts as gone. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  if (stat === null) return false;
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

async function until<T>(what: string, probe: () => Promise<T | null>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a running check whose revision is superseded (real Redis, real processes)", () => {
  const prefix = `hypwatch-test-${randomUUID()}`;
  const redis = new Redis(TEST_REDIS_URL);
  const store = new StateStore(redis, `${prefix}:state`);
  const captured = captureLog();
  const connection = redisConnection(TEST_REDIS_URL);
  const checks = new Queue<CheckJobData>(CHECK_QUEUE, { connection, prefix });
  let dir = "";
  let service: ReturnType<typeof startService> | null = null;

  afterAll(async () => {
    await service?.close();
    await checks.close();
    await dropKeys(redis, prefix);
    redis.disconnect();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("is stopped when the next version arrives: its process and build killed, its slot free, its verdict superseded and not reported", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "hypwatch-stop-"));
    const base = configSchema.parse({ redisUrl: TEST_REDIS_URL, cacheDir: dir });
    const config: Config = { ...base, service: { ...base.service, queuePrefix: prefix } };
    service = startService(config, {
      prefix,
      log: captured.log,
      sources: [],
      report: false,
      queues: [standInCheckQueue(config, "slowFirstVersionCheck")],
    });
    await service.ready();
    await store.ensureSchema();
    const deps = { store, scheduler: queueScheduler(checks, redis) };

    for (const mail of await gicv2Mails()) await ingestMail({ store }, "kvmarm", mail);
    await updateRevisions(deps, testPolicy());
    const [queued] = await checks.getJobs(["waiting", "active"]);
    const v1Check = queued?.data.checkKey ?? "";
    expect((await store.revision(queued?.data.revision ?? ""))?.series.version).toBe(1);
    const pids = await until("v1's check to start its build", async () => {
      const json = await redis.get(runningCheckKey(prefix));
      return json ? (JSON.parse(json) as { child: number; build: number }) : null;
    });
    expect(await alive(pids.child)).toBe(true);
    expect(await alive(pids.build)).toBe(true);

    for (const mail of await gicv2AsV2()) await ingestMail({ store }, "kvmarm", mail);
    const update = await updateRevisions(deps, testPolicy());
    expect(update).toMatchObject({ cancelled: 1, scheduled: 1 });

    const verdict = await until("v1's verdict", () => store.verdict(v1Check), 10_000);
    const v2Verdict = await until("v2's verdict", async () => {
      const latest = await store.latestVerdicts(10);
      return latest.find((v) => v.version === 2) ?? null;
    });
    expect(verdict).toMatchObject({
      kind: "superseded",
      reason: `superseded by <${v2Verdict.seriesId}> v2`,
      version: 1,
      result: null,
    });
    expect(v2Verdict.kind).toBe("clean");
    expect(await alive(pids.child)).toBe(false);
    expect(await alive(pids.build)).toBe(false);
    // The worktree slot it held is free: the only slot the pool may have is taken at once.
    const slot = await acquireSlot(dir, null, { cacheDir: dir, maxSlots: 1, waitTimeoutMs: 3000 });
    expect(slot.index).toBe(0);
    await slot.release();

    // The job completed (not failed, so never retried).
    expect(await (await checks.getJob(checkJobId(v1Check)))?.getState()).toBe("completed");
    // Only v2's verdict is reported; each check ran once.
    expect((await store.outbox()).map((e) => e.checkKey)).toEqual([v2Verdict.checkKey]);
    expect(await store.runs()).toEqual({ [v1Check]: "1", [v2Verdict.checkKey]: "1" });
    expect(captured.lines().find((l) => l.msg === "job stopped")).toMatchObject({
      queue: CHECK_QUEUE,
      jobId: checkJobId(v1Check),
    });
  }, 30_000);
});
