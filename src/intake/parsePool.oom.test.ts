import { describe, expect, it } from "vitest";
import { mail } from "../../test/hostile-mail.js";
import { parseMails } from "./parsePool.js";
import type { RawMail } from "./types.js";

describe("parse worker out of memory", () => {
  it("is one message's error: the pool replaces the worker and parses the rest", async () => {
    // 12 MB of two-byte lines: within the message limit, but the line arrays parsing builds
    // do not fit a 24 MB worker heap.
    const hog = mail({ id: "hog@x", subject: "[PATCH] hog", body: "a\n".repeat(6_000_000) });
    const mails: RawMail[] = [
      { raw: Buffer.from(mail({ id: "a@x", subject: "a" })), origin: "t.mbox#1" },
      { raw: Buffer.from(hog), origin: "t.mbox#2" },
      { raw: Buffer.from(mail({ id: "b@x", subject: "b" })), origin: "t.mbox#3" },
    ];
    const outcomes = [];
    for await (const outcome of parseMails(mails, {
      output: "summary",
      threads: 2,
      batchSize: 3,
      workerHeapMb: 24,
    }))
      outcomes.push(outcome);
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
    const failed = outcomes[1];
    expect(failed && !failed.ok && failed.error.message).toContain("t.mbox#2");
    expect(failed && !failed.ok && failed.error.reason).toContain("died");
  });
});
