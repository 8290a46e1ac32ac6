import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { simpleParser, type ParsedMail } from "mailparser";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  earlierVersion,
  finding,
  storeVerdict,
  threadSeries,
  verdictOf,
} from "../../test/digest-fixtures.js";
import { captureLog } from "../../test/log-capture.js";
import { freshStore, type TestStore } from "../../test/state.js";
import { configSchema } from "../config.js";
import type { Series } from "../series/types.js";
import { digestKey, sendDigest, type DigestConfig } from "./digest.js";
import { maildirSender, MailSendError, type MailSender } from "./mail.js";

const START = Date.parse("2024-05-01T06:00:00Z");
const END = Date.parse("2024-05-02T06:00:00Z");
const period = { start: new Date(START), end: new Date(END) };
const at = (hours: number) => START + hours * 3600_000;
const config = configSchema.parse({
  mail: { from: "hypwatch <bot@hypwatch.example>", messageIdDomain: "hypwatch.example" },
  lore: { url: "https://lore.kernel.org/kvmarm" },
});
const digest: DigestConfig = {
  name: "kvmarm-daily",
  lists: ["kvmarm"],
  to: ["kvmarm@lists.linux.dev"],
  schedule: "0 6 * * *",
  send: false,
};
const now = () => new Date(END + 60_000);

let scs: Series;
let wxn: Series;
let tidy: Series;
let t: TestStore;
let outbox: string;

beforeAll(async () => {
  scs = await threadSeries("scs-v7");
  wxn = await threadSeries("el2-nvhe-wxn-v1");
  tidy = await threadSeries("tidy-kconfig-makefiles-v4");
});

beforeEach(async () => {
  t = await freshStore();
  outbox = await mkdtemp(path.join(tmpdir(), "hypwatch-digest-"));
});

afterEach(async () => {
  await t.drop();
  await rm(outbox, { recursive: true, force: true });
});

async function mails(): Promise<ParsedMail[]> {
  const dir = path.join(outbox, "new");
  const names = await readdir(dir).catch(() => [] as string[]);
  return Promise.all(names.map(async (n) => simpleParser(await readFile(path.join(dir, n)))));
}

/** Verdicts around the period: v6 of SCS before it, v7 and WXN in it, others out of it. */
async function storeDay(): Promise<void> {
  const { older, newer } = earlierVersion(scs, 6);
  const printk = finding({ symbol: "printk" });
  await storeVerdict(
    t.store,
    older,
    verdictOf(older, { kind: "findings", findings: [printk], recordedAt: START - 3600_000 }),
  );
  await storeVerdict(
    t.store,
    newer,
    verdictOf(newer, {
      kind: "findings",
      findings: [finding({ symbol: "kfree" })],
      recordedAt: at(3),
    }),
  );
  await storeVerdict(t.store, wxn, verdictOf(wxn, { kind: "no-base", recordedAt: at(5) }));
  // At the end of the period: the next one's.
  await storeVerdict(t.store, tidy, verdictOf(tidy, { kind: "clean", recordedAt: END }));
  const elsewhere = { ...tidy, id: `lkml.${tidy.id}`, subject: "Another list's series" };
  await storeVerdict(
    t.store,
    elsewhere,
    verdictOf(elsewhere, { list: "lkml", kind: "clean", recordedAt: at(4) }),
  );
}

describe("sendDigest", () => {
  it("mails the period's verdicts of its lists once, as multipart text and HTML; a second run sends nothing", async () => {
    await storeDay();
    const { log } = captureLog();
    const deps = { store: t.store, sender: maildirSender(outbox), config, log, now };
    const first = await sendDigest(deps, { digest, period });
    expect(first.status).toBe("sent");
    const second = await sendDigest(deps, { digest, period });
    expect(second).toMatchObject({ status: "sent-before", key: digestKey(digest.name, period) });

    const [mail, ...more] = await mails();
    expect(more).toHaveLength(0);
    expect(mail?.headers.get("content-type")).toMatchObject({ value: "multipart/alternative" });
    expect(mail?.headers.get("auto-submitted")).toBe("auto-generated");
    expect(mail?.messageId).toMatch(/^<hypwatch-[0-9a-f]{24}@hypwatch\.example>$/);
    expect(mail?.subject).toBe(
      "[hypwatch] kvmarm-daily digest 2024-05-02: 2 series checked, 1 with new findings, 1 with fixes",
    );
    expect(mail?.to).toMatchObject({ text: "kvmarm@lists.linux.dev" });
    const text = mail?.text ?? "";
    expect(text).toContain("add support for Clang's Shadow Call Stack");
    expect(text).toContain("Running the EL2 nVHE code with WXN");
    expect(text).toContain("fixed since v6:");
    expect(text).not.toContain("Tidy up arch Kconfig");
    expect(text).not.toContain("Another list's series");
    expect(text).toContain(`<https://lore.kernel.org/kvmarm/${encodeURIComponent(scs.id)}/>`);
    expect(mail?.html).toContain("<h2>New findings</h2>");
    const [file] = await readdir(path.join(outbox, "new"));
    const raw = await readFile(path.join(outbox, "new", file ?? ""), "utf8");
    expect(raw).toMatch(/Content-Type: text\/plain; charset=utf-8\r?\n/i);
    expect(raw).toMatch(/Content-Type: text\/html; charset=utf-8\r?\n/i);
    expect(raw).not.toMatch(/format=flowed/i);
  });

  it("escapes a hostile subject in the HTML part", async () => {
    const hostile = { ...wxn, subject: "<script>alert(document.cookie)</script>" };
    await storeVerdict(t.store, hostile, verdictOf(hostile, { kind: "clean", recordedAt: at(1) }));
    const { log } = captureLog();
    await sendDigest(
      { store: t.store, sender: maildirSender(outbox), config, log, now },
      { digest, period },
    );
    const [mail] = await mails();
    expect(mail?.html).not.toContain("<script>");
    expect(mail?.html).toContain("&lt;script&gt;alert(document.cookie)&lt;/script&gt;");
  });

  it("links a series' GitHub issue recorded in the ledger", async () => {
    const v = verdictOf(wxn, { kind: "findings", findings: [finding()], recordedAt: at(1) });
    await storeVerdict(t.store, wxn, v);
    await t.store.recordSideEffect(
      `github:series:kvmarm:${wxn.id}`,
      "https://github.com/example/hyp/issues/12",
    );
    const { log } = captureLog();
    await sendDigest(
      { store: t.store, sender: maildirSender(outbox), config, log, now },
      { digest, period },
    );
    const [mail] = await mails();
    expect(mail?.text).toContain("issue: <https://github.com/example/hyp/issues/12>");
    expect(mail?.html).toContain('href="https://github.com/example/hyp/issues/12"');
  });

  it("sends nothing for a period without verdicts", async () => {
    const { log } = captureLog();
    const outcome = await sendDigest(
      { store: t.store, sender: maildirSender(outbox), config, log, now },
      { digest, period },
    );
    expect(outcome.status).toBe("empty");
    expect(await mails()).toHaveLength(0);
  });

  it("does not send again after an attempt died while sending: a digest may be lost, never doubled", async () => {
    await storeDay();
    const maildir = maildirSender(outbox);
    let sends = 0;
    // Writes the mail, then dies before the outcome is recorded (a crash, as far as the ledger sees).
    const dying: MailSender = {
      via: "smtp",
      async send(mail) {
        sends++;
        await maildir.send(mail);
        throw new Error("worker killed");
      },
      close() {},
    };
    const { log, lines } = captureLog();
    await expect(
      sendDigest({ store: t.store, sender: dying, config, log, now }, { digest, period }),
    ).rejects.toThrow("worker killed");
    const again = await sendDigest(
      { store: t.store, sender: dying, config, log, now },
      { digest, period },
    );
    expect(again.status).toBe("in-doubt");
    expect(sends).toBe(1);
    expect(await mails()).toHaveLength(1);
    expect(lines().some((l) => l.level === 50 && /not sent again/.test(l.msg))).toBe(true);
  });

  it("tries again when the transport refused the mail", async () => {
    await storeDay();
    const maildir = maildirSender(outbox);
    let refusals = 1;
    const flaky: MailSender = {
      via: "smtp",
      async send(mail) {
        if (refusals-- > 0) throw new MailSendError(mail.messageId, "451 try again later");
        return maildir.send(mail);
      },
      close() {},
    };
    const { log } = captureLog();
    const deps = { store: t.store, sender: flaky, config, log, now };
    await expect(sendDigest(deps, { digest, period })).rejects.toThrow("451");
    expect((await sendDigest(deps, { digest, period })).status).toBe("sent");
    expect((await sendDigest(deps, { digest, period })).status).toBe("sent-before");
    expect(await mails()).toHaveLength(1);
  });

  it("refuses a period that has not ended", async () => {
    const { log } = captureLog();
    await expect(
      sendDigest(
        { store: t.store, sender: maildirSender(outbox), config, log, now: () => new Date(at(1)) },
        { digest, period },
      ),
    ).rejects.toThrow(/later/);
  });
});
