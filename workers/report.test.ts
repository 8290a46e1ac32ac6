import { testPolicy } from "../test/policy.js";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Queue } from "bullmq";
import { simpleParser } from "mailparser";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureLog } from "../test/log-capture.js";
import { gicv2AsV2, gicv2Mails, gicv2Result, reviewReply } from "../test/report-context.js";
import { startGitHubStandIn } from "../test/github-standin.js";
import { startSmtpServer, type TestSmtpServer } from "../test/smtp-server.js";
import { freshStore, TEST_REDIS_URL, type TestStore } from "../test/state.js";
import type { BuildConfigName } from "../src/apply/index.js";
import { configSchema, type Config } from "../src/config.js";
import type { RawMail } from "../src/mail/types.js";
import { checkRevision } from "../src/pipeline/check-revision.js";
import { handleCommands } from "../src/pipeline/commands.js";
import { ingestMail, ingestStream } from "../src/pipeline/ingest.js";
import { updateRevisions, type CheckJobData } from "../src/pipeline/revisions.js";
import { redisConnection } from "./connection.js";
import {
  configuredReporters,
  dispatchOutbox,
  reportJobId,
  reportProcessor,
  type ReportJobData,
} from "./report.js";

/** Run a check job whose checker answers with the GICv2 example's real check result. */
async function checkWithGicv2Result(
  t: TestStore,
  job: CheckJobData,
  configs: BuildConfigName[],
): Promise<void> {
  const result = await gicv2Result();
  await checkRevision(
    {
      store: t.store,
      config: configSchema.parse({}),
      analyzer: "test",
      configs,
      treeFor: async () => ({ repo: "/unused", candidates: [] }),
      check: async () => result,
    },
    job,
  );
}

/**
 * Mail stored, revisions assembled, and the newest given the GICv2 example's real check
 * result: its verdict is the newest outbox entry.
 */
async function verdictInStore(t: TestStore, mails?: RawMail[]): Promise<ReportJobData> {
  for (const mail of mails ?? (await gicv2Mails()))
    await ingestMail({ store: t.store }, "kvmarm", mail);
  const jobs: CheckJobData[] = [];
  await updateRevisions(
    {
      store: t.store,
      scheduler: { schedule: async (job) => void jobs.push(job), cancel: async () => {} },
    },
    testPolicy({ marginMessages: 0 }),
  );
  const job = jobs.at(-1);
  if (!job) throw new Error("the GICv2 example was not scheduled");
  await checkWithGicv2Result(t, job, ["defconfig", "instrumented"]);
  const entry = (await t.store.outbox()).at(-1);
  if (!entry) throw new Error("no outbox entry");
  return { checkKey: entry.checkKey, idempotencyKey: entry.idempotencyKey };
}

function serviceConfig(dir: string, reply: object, smtpPort?: number): Config {
  return configSchema.parse({
    cacheDir: dir,
    lists: [
      {
        name: "kvmarm",
        sources: [{ type: "maildir", path: path.join(dir, "in") }],
        address: "kvmarm@lists.linux.dev",
        reply,
      },
    ],
    mail: {
      from: "hypwatch <bot@hypwatch.test>",
      messageIdDomain: "hypwatch.test",
      ...(smtpPort ? { smtp: { host: "127.0.0.1", port: smtpPort } } : {}),
    },
  });
}

describe("reporting a verdict by mail", () => {
  let t: TestStore;
  let dir: string;
  let smtp: TestSmtpServer;
  const logs = { logger: captureLog().log };

  beforeEach(async () => {
    t = await freshStore();
    dir = await mkdtemp(path.join(tmpdir(), "hypwatch-report-"));
    smtp = await startSmtpServer();
  });
  afterEach(async () => {
    await t.drop();
    await smtp.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("sends each reply once over a real SMTP conversation, across failures, retries and two workers", async () => {
    const job = await verdictInStore(t);
    const config = serviceConfig(dir, { mode: "list", send: true }, smtp.port);
    const worker = () =>
      reportProcessor({
        store: t.store,
        reporters: configuredReporters(config, t.store, logs.logger),
        log: logs.logger,
      });

    // The server refuses the first attempt: nothing is recorded, the job fails to be retried.
    smtp.failNext(1);
    await expect(worker()({ id: "1", data: job })).rejects.toThrow(/451/);
    expect(smtp.received).toHaveLength(0);

    // Two workers take the retried job at once; one sends, the other sends nothing.
    await Promise.allSettled([worker()({ id: "1", data: job }), worker()({ id: "1", data: job })]);
    await worker()({ id: "1", data: job });
    await worker()({ id: "1", data: job });
    expect(smtp.received).toHaveLength(1);

    const [sent] = smtp.received;
    expect(sent?.from).toBe("bot@hypwatch.test");
    expect(sent?.to.sort()).toEqual(["ada@example.org", "kvmarm@lists.linux.dev"]);
    const mail = await simpleParser(sent?.raw ?? Buffer.alloc(0));
    expect(mail.subject).toBe(
      "Re: [PATCH 2/3] KVM: arm64: Warn about illegal GICv2 CPU interface accesses",
    );
    expect(mail.inReplyTo).toMatch(/^<d677890876d2a5543a6ad4c5c2e60382780a32b6\./);
    expect(mail.messageId).toMatch(/^<hypwatch-[0-9a-f]{24}@hypwatch\.test>$/);
    expect(mail.headers.get("auto-submitted")).toBe("auto-generated");
    const type = mail.headers.get("content-type") as {
      value: string;
      params: Record<string, string>;
    };
    expect(type.value).toBe("text/plain");
    expect(type.params).toEqual({ charset: "utf-8" });
    expect(mail.text).toContain("hyp/undefined-symbol");
    expect(mail.html).toBe(false);
    const ledger = JSON.parse(
      (await t.store.sideEffect(`reply:${job.idempotencyKey}:${mail.inReplyTo?.slice(1, -1)}`)) ??
        "{}",
    ) as { messageId: string; via: string };
    expect(`<${ledger.messageId}>`).toBe(mail.messageId);
    expect(ledger.via).toBe("smtp");
  });

  it("writes the dry run to the outbox Maildir, one file per reply however often it runs", async () => {
    const job = await verdictInStore(t);
    const config = serviceConfig(dir, { mode: "list" });
    const run = reportProcessor({
      store: t.store,
      reporters: configuredReporters(config, t.store, logs.logger),
      log: logs.logger,
    });
    await run({ id: "1", data: job });
    await run({ id: "1", data: job });
    const files = await readdir(path.join(dir, "outbox", "new"));
    expect(files).toHaveLength(1);
    const mail = await simpleParser(
      await readFile(path.join(dir, "outbox", "new", files[0] ?? "")),
    );
    expect(mail.subject).toMatch(/^Re: \[PATCH 2\/3\]/);
    expect(smtp.received).toHaveLength(0);
  });

  it("files one GitHub issue beside the reply, through the stand-in, with nothing invalid sent", async () => {
    const github = await startGitHubStandIn();
    try {
      const job = await verdictInStore(t);
      const config = configSchema.parse({
        ...serviceConfig(dir, { mode: "list", send: true }, smtp.port),
        github: { repo: `${github.owner}/${github.repo}`, apiUrl: github.url },
      });
      const env = { HYPWATCH_GITHUB_TOKEN: github.token };
      const reporters = configuredReporters(config, t.store, logs.logger, env);
      expect(reporters.map((r) => r.name)).toEqual(["reply", "github"]);
      const run = reportProcessor({ store: t.store, reporters, log: logs.logger });
      await run({ id: "1", data: job });
      await run({ id: "1", data: job });
      expect(smtp.received).toHaveLength(1);
      expect(github.issues().map((i) => [i.title, i.state])).toEqual([
        [
          "[PATCH v1] KVM: arm64: Say more about GICv2 CPU interface traps and VHE panics: 1 error",
          "open",
        ],
      ]);
      expect(github.violations).toEqual([]);
    } finally {
      await github.close();
    }
  });

  it("tells v2's author what v1 had, from v1's stored verdict", async () => {
    const config = serviceConfig(dir, { mode: "list" });
    const run = reportProcessor({
      store: t.store,
      reporters: configuredReporters(config, t.store, logs.logger),
      log: logs.logger,
    });
    await run({ id: "1", data: await verdictInStore(t) });
    await run({ id: "2", data: await verdictInStore(t, await gicv2AsV2()) });
    const dir2 = path.join(dir, "outbox", "new");
    const mails = await Promise.all(
      (await readdir(dir2)).map(async (f) => simpleParser(await readFile(path.join(dir2, f)))),
    );
    const v2 = mails.filter((m) => m.subject?.includes("[PATCH v2 "));
    expect(v2.map((m) => m.subject?.slice(0, 22)).sort()).toEqual([
      "Re: [PATCH v2 0/3] KVM",
      "Re: [PATCH v2 2/3] KVM",
    ]);
    const patch = v2.find((m) => m.subject?.includes("2/3"));
    expect(patch?.text).toContain("(also in the last version)");
    const summary = v2.find((m) => m.subject?.includes("0/3"));
    expect(summary?.text).toMatch(/Compared with v1:\n {2}fixed: 0\n/);
  });

  it("answers a retest and an ignore to whoever asked, once, leaving the ignored rule out", async () => {
    const first = await verdictInStore(t);
    const config = serviceConfig(dir, { mode: "list" });
    const run = reportProcessor({
      store: t.store,
      reporters: configuredReporters(config, t.store, logs.logger),
      log: logs.logger,
    });
    await run({ id: "1", data: first });
    // A reviewer asks for a retest and to hear no more about unmapped sections.
    const jobs: CheckJobData[] = [];
    const arriving = (async function* () {
      yield { mail: reviewReply(1, "#hypwatch ignore hyp/unmapped-section\n#hypwatch retest\n") };
    })();
    for await (const batch of ingestStream({ store: t.store }, "kvmarm", arriving, { workers: 0 }))
      await handleCommands(
        {
          store: t.store,
          scheduler: { schedule: async (job) => void jobs.push(job), cancel: async () => {} },
          bot: { address: "bot@hypwatch.test", messageIdDomain: "hypwatch.test", botAddresses: [] },
        },
        { list: "kvmarm", check: { candidates: [], configs: ["defconfig"], analyzer: "test" } },
        batch.commands,
      );
    const [retest] = jobs;
    if (!retest) throw new Error("no retest queued");
    await checkWithGicv2Result(t, retest, ["defconfig"]);
    for (const entry of (await t.store.outbox()).slice(1)) {
      const data = {
        checkKey: entry.checkKey,
        idempotencyKey: entry.idempotencyKey,
        ...(entry.ack ? { ack: entry.ack } : {}),
      };
      await run({ id: entry.id, data });
      await run({ id: entry.id, data });
    }
    const outbox = path.join(dir, "outbox", "new");
    const mails = await Promise.all(
      (await readdir(outbox)).map(async (f) => simpleParser(await readFile(path.join(outbox, f)))),
    );
    const toMarc = mails.filter((m) => m.inReplyTo === "<review-1@example.org>");
    expect(toMarc).toHaveLength(2);
    for (const m of toMarc) {
      const to = m.to && "value" in m.to ? m.to.value : [];
      expect(to.map((a) => a.address)).toEqual(["marc@example.org"]);
      expect(m.cc).toBeUndefined();
    }
    const ack = toMarc.find((m) => m.headers.get("x-hypwatch-reply") === "ack");
    expect(ack?.text).toContain("hyp/unmapped-section findings of v1");
    const answer = toMarc.find((m) => m.headers.get("x-hypwatch-reply") === "requested");
    expect(answer?.text).toContain('hypwatch checked v1 of this series as asked ("#hypwatch');
    expect(answer?.text).toContain("hyp/undefined-symbol");
    expect(answer?.text).not.toContain("hyp/unmapped-section");
  });

  it("answers what building every step found under its patch, beside the verdict's reply, with no issue", async () => {
    const github = await startGitHubStandIn();
    try {
      const job = await verdictInStore(t);
      // The steps of a series whose patch 3 removes the problem patch 2 brings in.
      const verdict = (await t.store.verdict(job.checkKey))!;
      const result = verdict.result!;
      expect(
        await t.store.recordSteps({
          ...verdict,
          result: {
            ...result,
            findings: result.findings.map((f) => ({ ...f, fixedBy: 3 })),
            causes: (result.causes ?? []).map((c) => ({ ...c, fixedBy: 3 })),
          },
        }),
      ).toBe(true);
      const entry = (await t.store.outbox()).at(-1);
      expect(entry).toMatchObject({ idempotencyKey: `steps:${job.checkKey}`, steps: true });
      const steps = {
        checkKey: job.checkKey,
        idempotencyKey: `steps:${job.checkKey}`,
        steps: true,
      };

      const config = configSchema.parse({
        ...serviceConfig(dir, { mode: "list" }),
        github: { repo: `${github.owner}/${github.repo}`, apiUrl: github.url },
      });
      const env = { HYPWATCH_GITHUB_TOKEN: github.token };
      const run = reportProcessor({
        store: t.store,
        reporters: configuredReporters(config, t.store, logs.logger, env),
        log: logs.logger,
      });
      for (const data of [job, steps, steps, job]) await run({ id: "1", data });
      const files = await readdir(path.join(dir, "outbox", "new"));
      expect(files).toHaveLength(2);
      const mails = await Promise.all(
        files.map(async (f) => simpleParser(await readFile(path.join(dir, "outbox", "new", f)))),
      );
      expect(new Set(mails.map((m) => m.messageId)).size).toBe(2);
      expect(mails.map((m) => m.subject)).toEqual(
        mails.map(() => expect.stringMatching(/^Re: \[PATCH 2\/3\]/)),
      );
      const stepsReply = mails.find((m) =>
        m.text?.includes("built each patch of this series in turn"),
      );
      expect(stepsReply?.text).toContain("(removed again by patch 3 of the series)");
      expect(github.issues()).toHaveLength(1);
      expect(github.violations).toEqual([]);
    } finally {
      await github.close();
    }
  });

  it("queues a report job per outbox entry, once, after the list's embargo", async () => {
    const job = await verdictInStore(t);
    const config = serviceConfig(dir, { mode: "list", embargoHours: 2 });
    const queue = new Queue<ReportJobData>("hypwatch-report", {
      connection: redisConnection(TEST_REDIS_URL),
      prefix: t.prefix,
    });
    try {
      for (let round = 0; round < 2; round++) {
        const stop = new AbortController();
        const dispatching = dispatchOutbox(
          { store: t.store, queue, config, log: logs.logger },
          stop.signal,
          50,
        );
        await new Promise((r) => setTimeout(r, 300));
        stop.abort();
        await dispatching;
        // The second round starts from the cursor's beginning: the job id keeps it one job.
        await t.store.setCheckpoint("outbox:report", "0");
      }
      const delayed = await queue.getDelayed();
      expect(delayed.map((j) => j.id)).toEqual([reportJobId(job.checkKey)]);
      // Two hours from the last mail (a minute before the verdict) counted from now.
      const verdict = await t.store.verdict(job.checkKey);
      const lastArrived = (verdict?.recordedAt ?? 0) - (verdict?.latencyMs ?? 0);
      const due = (delayed[0]?.timestamp ?? 0) + (delayed[0]?.opts.delay ?? 0);
      expect(Math.abs(due - (lastArrived + 2 * 3_600_000))).toBeLessThan(5_000);
    } finally {
      await queue.close();
    }
  });
});
