import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { simpleParser } from "mailparser";
import { afterAll, describe, expect, it } from "vitest";
import { readSource } from "../src/intake/index.js";
import type { RawMail } from "../src/mail/types.js";
import { StateStore } from "../src/state/store.js";
import { corpusPath } from "./corpus.js";
import { freePort } from "./free-port.js";
import { kernelTestsAvailable, linuxTree, testCacheDir } from "./linux-tree.js";
import { oneShotSeries } from "./series-helpers.js";
import { serveEnv, startServe, writeServiceConfig, type ServeProcess } from "./serve-process.js";
import { dropKeys, TEST_REDIS_URL } from "./state.js";

const THREADS = [
  "examples/gicv2-warn-v1.mbox",
  corpusPath("threads", "scs-v7", "scs-v7-thread.mbox"),
  corpusPath("threads", "tidy-kconfig-makefiles-v4", "tidy-kconfig-makefiles-v4.mbox"),
  corpusPath("threads", "pmu-emulation-fixes-v2", "pmu-emulation-fixes-v2.mbox"),
  corpusPath("threads", "el2-nvhe-wxn-v1", "el2-nvhe-wxn-v1.mbox"),
];

async function allMails(): Promise<RawMail[]> {
  const out: RawMail[] = [];
  for (const file of THREADS) for await (const mail of readSource(file)) out.push(mail);
  return out;
}

/** Deliver as an MTA does: write in tmp/, then move into new/. */
async function deliver(maildir: string, mail: RawMail, n: number): Promise<void> {
  const name = `${Date.now()}.${n}_${randomUUID()}.test`;
  await writeFile(path.join(maildir, "tmp", name), mail.raw);
  await rename(path.join(maildir, "tmp", name), path.join(maildir, "new", name));
}

const available = await kernelTestsAvailable();

describe.skipIf(!available)("the service, two worker processes on one Redis (real checks)", () => {
  const prefix = `hypwatch-test-${randomUUID()}`;
  const redis = new Redis(TEST_REDIS_URL);
  const store = new StateStore(redis, `${prefix}:state`);
  const serves: ServeProcess[] = [];
  let dir = "";

  afterAll(async () => {
    for (const s of serves) s.proc.kill("SIGTERM");
    await Promise.all(serves.map((s) => s.exited(Date.now())));
    await dropKeys(redis, prefix);
    redis.disconnect();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    "turns list mail as it arrives into one verdict per newest revision, each check run once",
    async () => {
      dir = await mkdtemp(path.join(tmpdir(), "hypwatch-service-"));
      const maildir = path.join(dir, "Maildir");
      for (const sub of ["new", "cur", "tmp"])
        await mkdir(path.join(maildir, sub), { recursive: true });
      const config = await writeServiceConfig(dir, [{ type: "maildir", path: maildir }], {
        partialWaitSeconds: 3600,
      });
      const outbox = path.join(dir, "outbox");
      const env = {
        ...serveEnv({
          config,
          redisUrl: TEST_REDIS_URL,
          prefix,
          cacheDir: testCacheDir(),
          tree: await linuxTree(),
        }),
        HYPWATCH_MAIL_OUTBOX: outbox,
      };
      // The first serves /healthz and /metrics on a port of its own.
      const metricsPort = await freePort();
      serves.push(
        startServe({ ...env, HYPWATCH_METRICS_PORT: String(metricsPort) }),
        startServe(env),
      );
      await Promise.all(serves.map((s) => s.waitFor("workers ready", 60_000)));

      const mails = await allMails();
      const expected = (await oneShotSeries(mails)).relevant
        .map((s) => `${s.id} v${s.version}`)
        .sort();
      expect(expected.length).toBeGreaterThanOrEqual(4);
      for (const [i, mail] of mails.entries()) {
        await deliver(maildir, mail, i);
        if (i % 7 === 0) await new Promise((r) => setTimeout(r, 100));
      }

      const deadline = Date.now() + 8 * 60_000;
      while ((await store.verdictCount()) < expected.length && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 1000));
      // A little longer: a check run twice or a stray verdict would show now.
      await new Promise((r) => setTimeout(r, 3000));

      const verdicts = await store.latestVerdicts(100);
      const revisions = await Promise.all(verdicts.map((v) => store.revision(v.revision)));
      expect(revisions.map((r) => `${r?.series.id} v${r?.series.version}`).sort()).toEqual(
        expected,
      );
      expect(verdicts.every((v) => v.kind !== "superseded")).toBe(true);
      expect(await store.messageCount("kvmarm")).toBe(
        new Set(mails.map((m) => m.raw.toString())).size,
      );

      // Every check ran once, in one of the two processes, and is reported once.
      const runs = await store.runs();
      expect(Object.values(runs)).toEqual(verdicts.map(() => "1"));
      const started = serves.flatMap((s) =>
        s.lines().filter((l) => l.msg === "job started" && l.queue === "hypwatch-check"),
      );
      expect(started).toHaveLength(verdicts.length);
      expect((await store.outbox()).map((e) => e.checkKey).sort()).toEqual(
        verdicts.map((v) => v.checkKey).sort(),
      );

      // The verdicts themselves: the bundled series calls printk from hyp code; the 2020 ones
      // do not apply to linux 6.1.
      const bySubject = (text: string) => verdicts.find((v) => v.subject.includes(text));
      expect(bySubject("GICv2")?.kind).toBe("findings");
      expect(bySubject("Shadow Call Stack")?.kind).toBe("does-not-apply");
      // What a monitoring system sees, from Redis through either process.
      const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      expect(health.status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toContain(
        `hypwatch_queue_jobs{queue="hypwatch-check",state="completed"} ${verdicts.length}`,
      );
      expect(metrics).toMatch(
        /hypwatch_job_duration_seconds_count\{queue="hypwatch-check",outcome="completed"\} \d+/,
      );

      // The dry run: the one reply (under the GICv2 patch with the finding) is in the outbox
      // once, though both processes report.
      const replies = async () => readdir(path.join(outbox, "new")).catch(() => []);
      const replyDeadline = Date.now() + 60_000;
      while ((await replies()).length === 0 && Date.now() < replyDeadline)
        await new Promise((r) => setTimeout(r, 500));
      await new Promise((r) => setTimeout(r, 3000));
      const files = await replies();
      expect(files).toHaveLength(1);
      const reply = await simpleParser(await readFile(path.join(outbox, "new", files[0] ?? "")));
      expect(reply.subject).toBe(
        "Re: [PATCH 2/3] KVM: arm64: Warn about illegal GICv2 CPU interface accesses",
      );

      // One process read the Maildir; the other waited on its lease.
      const readers = serves.filter((s) => s.lines().some((l) => l.msg === "series updated"));
      expect(readers).toHaveLength(1);
    },
    10 * 60_000,
  );
});
