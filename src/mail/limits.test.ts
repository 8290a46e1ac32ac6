import { describe, expect, it } from "vitest";
import { readConfig } from "../config.js";
import { DEFAULT_MAIL_LIMITS } from "./limits.js";
import { HYP_DIFF, mail, manyParts, nestedMultipart } from "../../test/hostile-mail.js";
import { parseMail } from "./parse.js";
import { MailParseError } from "./types.js";

const raw = (text: string, origin = "hostile.mbox#1") => ({ raw: Buffer.from(text), origin });

async function refusal(text: string, limits = DEFAULT_MAIL_LIMITS): Promise<MailParseError> {
  const error: unknown = await parseMail(raw(text), limits).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MailParseError);
  return error as MailParseError;
}

describe("parseMail limits", () => {
  it("refuses a subject claiming 10^20 patches, naming the message and the limit", async () => {
    const error = await refusal(
      mail({ id: "huge@x", subject: "[PATCH 1/100000000000000000000] x", body: HYP_DIFF }),
    );
    expect(error.messageId).toBe("huge@x");
    expect(error.message).toContain("<huge@x>");
    expect(error.reason).toContain("HYPWATCH_MAX_SUBJECT_NUMBER");
  });

  it("refuses a patch number, a version or a Mercurial count over the limit", async () => {
    for (const subject of [
      "[PATCH 99999/3] x",
      "[PATCH v123456 1/3] x",
      "[PATCH 1 of 100000000] x",
      "PATCH 1/1000000: x",
    ]) {
      const error = await refusal(mail({ id: "n@x", subject, body: HYP_DIFF }));
      expect(error.reason, subject).toContain("HYPWATCH_MAX_SUBJECT_NUMBER");
    }
  });

  it("keeps a real subject at the limit", async () => {
    const ok = await parseMail(raw(mail({ id: "ok@x", subject: "[PATCH v3 10000/10000] x" })));
    expect(ok.subject.total).toBe(10000);
  });

  it("refuses a message over the size limit before splitting it", async () => {
    const text = mail({ id: "big@x", subject: "[PATCH] big", body: "a\n".repeat(600_000) });
    const error = await refusal(text, { ...DEFAULT_MAIL_LIMITS, maxMessageBytes: 1_000_000 });
    expect(error.reason).toContain("HYPWATCH_MAX_MESSAGE_BYTES");
    expect(error.message).toContain("hostile.mbox#1");
  });

  it("refuses a message with a line over the limit", async () => {
    const text = mail({ id: "line@x", subject: "x", body: `${"a".repeat(70_000)}\n` });
    const error = await refusal(text, { ...DEFAULT_MAIL_LIMITS, maxLineBytes: 65_536 });
    expect(error.messageId).toBe("line@x");
    expect(error.reason).toContain("HYPWATCH_MAX_LINE_BYTES");
  });

  it("refuses MIME nested deeper than the limit before mailparser sees it", async () => {
    const text = mail({
      id: "deep@x",
      subject: "x",
      headers: ["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b0"'],
      body: nestedMultipart(5000),
    });
    const started = Date.now();
    const error = await refusal(text);
    expect(error.reason).toContain("HYPWATCH_MAX_MIME_DEPTH");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("refuses a body of more MIME parts than the limit, and reads one within it", async () => {
    const headers = ["MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="p"'];
    const error = await refusal(
      mail({ id: "parts@x", subject: "x", headers, body: manyParts(50_000) }),
    );
    expect(error.reason).toContain("HYPWATCH_MAX_MIME_PARTS");
    const ok = await parseMail(
      raw(mail({ id: "ok@x", subject: "x", headers, body: manyParts(3) })),
    );
    expect(ok.body).toContain("part 2");
  });

  it("keeps the first and the newest References of a list of thousands", async () => {
    const references = Array.from({ length: 20_000 }, (_, i) => `r${i}@x`);
    const text = mail({ id: "refs@x", subject: "Re: x", references });
    const parsed = await parseMail(raw(text));
    expect(parsed.references).toHaveLength(DEFAULT_MAIL_LIMITS.maxReferences);
    expect(parsed.references[0]).toBe("r0@x");
    expect(parsed.references.at(-1)).toBe("r19999@x");
  });

  it("reads every limit from the environment, with the defaults otherwise", () => {
    expect(readConfig({}).mailLimits).toEqual(DEFAULT_MAIL_LIMITS);
    const set = readConfig({ HYPWATCH_MAX_SUBJECT_NUMBER: "50", HYPWATCH_MAX_LINE_BYTES: "99" });
    expect(set.mailLimits.maxSubjectNumber).toBe(50);
    expect(set.mailLimits.maxLineBytes).toBe(99);
    expect(() => readConfig({ HYPWATCH_MAX_THREAD_DEPTH: "-1" })).toThrow();
  });
});
