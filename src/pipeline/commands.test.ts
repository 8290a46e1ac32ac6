import { testPolicy } from "../../test/policy.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  GICV2_COVER as COVER,
  GICV2_PATCH2 as PATCH2,
  gicv2Mails,
  reviewReply as reply,
} from "../../test/report-context.js";
import { freshStore, type TestStore } from "../../test/state.js";
import type { RawMail } from "../mail/types.js";
import { DEFAULT_BOT_ADDRESSES } from "../series/index.js";
import type { SeriesMail } from "../series/index.js";
import { handleCommands, type BotIdentity } from "./commands.js";
import { ingestStream } from "./ingest.js";
import { updateRevisions, type CheckJobData } from "./revisions.js";

const bot: BotIdentity = {
  address: "bot@hypwatch.test",
  messageIdDomain: "hypwatch.test",
  botAddresses: DEFAULT_BOT_ADDRESSES,
};

const policy = testPolicy({
  marginMessages: 0,
  check: { candidates: [], configs: ["defconfig"], analyzer: "test" },
});

async function ingest(t: TestStore, mails: RawMail[]): Promise<SeriesMail[]> {
  const commands: SeriesMail[] = [];
  const arriving = (async function* () {
    for (const mail of mails) yield { mail };
  })();
  for await (const batch of ingestStream({ store: t.store }, "kvmarm", arriving, { workers: 0 }))
    commands.push(...batch.commands);
  return commands;
}

describe("#hypwatch commands in list mail", () => {
  let t: TestStore;
  const jobs: CheckJobData[] = [];
  const scheduler = {
    schedule: async (job: CheckJobData) => void jobs.push(job),
    cancel: async () => {},
  };

  beforeEach(async () => {
    t = await freshStore();
    jobs.length = 0;
    await ingest(t, await gicv2Mails());
    await updateRevisions({ store: t.store, scheduler }, policy);
    jobs.length = 0;
  });
  afterEach(() => t.drop());

  it("queues a retest of the series' newest revision, answered to whoever asked, once", async () => {
    const mails = await ingest(t, [reply(1, "Looks wrong to me.\n\n#hypwatch retest\n")]);
    expect(mails.map((m) => m.commands)).toEqual([
      [{ verb: "retest", argument: null, line: "#hypwatch retest" }],
    ]);
    const outcomes = await handleCommands({ store: t.store, scheduler, bot }, policy, mails);
    expect(outcomes).toEqual([{ messageId: "review-1@example.org", status: "handled" }]);
    expect(jobs).toHaveLength(1);
    const [head] = await t.store.heads("kvmarm", [{ id: COVER, version: 1 }]);
    expect(jobs[0]).toMatchObject({
      revision: head?.revision,
      requestedBy: {
        messageId: "review-1@example.org",
        author: { name: "Marc Reviewer", email: "marc@example.org" },
        command: "#hypwatch retest",
      },
    });
    // A retest is a check of its own, not the one already done.
    expect(jobs[0]?.checkKey).not.toBe(head?.check);
    // The same mail again (read twice after a restart): nothing more.
    expect(await handleCommands({ store: t.store, scheduler, bot }, policy, mails)).toEqual([
      { messageId: "review-1@example.org", status: "before" },
    ]);
    expect(jobs).toHaveLength(1);
    // A retest queues no answer of its own: the verdict answers.
    expect(await t.store.outbox()).toEqual([]);
  });

  it("checks on a named base, and refuses what is not a ref", async () => {
    const mails = await ingest(t, [
      reply(2, "#hypwatch base kvmarm/next\n"),
      reply(3, "#hypwatch base --upload-pack=touch${IFS}/tmp/x\n"),
    ]);
    await handleCommands({ store: t.store, scheduler, bot }, policy, mails);
    expect(jobs.map((j) => j.base)).toEqual(["kvmarm/next"]);
    const [ack] = await t.store.outbox();
    expect(ack?.ack?.messageId).toBe("review-3@example.org");
    expect(ack?.ack?.lines[0]).toMatch(/is not a branch, tag or commit name/);
  });

  it("keeps an ignored rule for the series, and answers what it did not understand", async () => {
    const mails = await ingest(t, [
      reply(4, "#hypwatch ignore hyp/unmapped-section\n#hypwatch frobnicate\n"),
    ]);
    await handleCommands({ store: t.store, scheduler, bot }, policy, mails);
    expect(await t.store.ignoredRules("kvmarm", [COVER])).toEqual(["hyp/unmapped-section"]);
    const [ack] = await t.store.outbox();
    expect(ack?.ack?.lines).toEqual([
      'hyp/unmapped-section findings of v1 "KVM: arm64: Say more about GICv2 CPU interface traps and VHE panics" and its other revisions will not be reported.',
      '"#hypwatch frobnicate": not understood. hypwatch knows: #hypwatch retest, #hypwatch base <ref>, #hypwatch ignore <rule>.',
    ]);
    expect(jobs).toEqual([]);
  });

  it("obeys no bot, not itself, and nobody who did not address it", async () => {
    const mails = await ingest(t, [
      reply(5, "#hypwatch retest\n", { From: "kernel test robot <lkp@intel.com>" }),
      reply(6, "#hypwatch retest\n", { "Auto-Submitted": "auto-replied" }),
      reply(7, "#hypwatch retest\n", { "Message-ID": "<loop@hypwatch.test>" }),
      reply(8, "#hypwatch retest\n", { Cc: "kvmarm@lists.linux.dev" }),
    ]);
    // A bot's mail, or one marked Auto-Submitted, carries no commands at all.
    expect(mails.map((m) => m.messageId)).toEqual(["loop@hypwatch.test", "review-8@example.org"]);
    const outcomes = await handleCommands({ store: t.store, scheduler, bot }, policy, mails);
    expect(outcomes.map((o) => o.reason)).toEqual(["from a bot", "not addressed"]);
    expect(jobs).toEqual([]);
    expect(await t.store.outbox()).toEqual([]);
  });

  it("takes a reply to the bot's own mail as addressed to it", async () => {
    const mails = await ingest(t, [
      reply(9, "#hypwatch retest\n", {
        Cc: "kvmarm@lists.linux.dev",
        "In-Reply-To": "<hypwatch-0123@hypwatch.test>",
        References: `<${COVER}> <${PATCH2}> <hypwatch-0123@hypwatch.test>`,
      }),
    ]);
    await handleCommands({ store: t.store, scheduler, bot }, policy, mails);
    expect(jobs).toHaveLength(1);
  });
});
