import { describe, expect, it } from "vitest";
import { parseSubject } from "../mail/subject.js";
import { assembleFromSummaries } from "./assemble.js";
import type { SeriesMail } from "./summary.js";
import { buildThreads, type ThreadLimitError } from "./threads.js";

/** A summary as series assembly sees one, for thread shapes no real list has. */
function summary(
  seq: number,
  subject: string,
  inReplyTo: string | null,
  more: Partial<SeriesMail> = {},
): SeriesMail {
  return {
    messageId: `m${seq}@x`,
    inReplyTo,
    references: inReplyTo ? [inReplyTo] : [],
    subject: parseSubject(subject),
    author: { name: "Eve", email: "eve@example.org" },
    date: new Date(Date.UTC(2020, 0, 1) + seq * 1000),
    seq,
    hasDiff: /PATCH/.test(subject) && !subject.startsWith("Re:"),
    files: ["arch/arm64/kvm/hyp/nvhe/switch.c"],
    trailers: [],
    replyTrailers: [],
    changeId: null,
    baseCommit: null,
    automated: false,
    parseScore: 0,
    ...more,
  };
}

/** `n` mails, each a reply to the one before. */
const chain = (n: number, subject: (i: number) => string): SeriesMail[] =>
  Array.from({ length: n }, (_, i) => summary(i, subject(i), i === 0 ? null : `m${i - 1}@x`));

function timed<T>(run: () => T): { value: T; ms: number } {
  const started = Date.now();
  const value = run();
  return { value, ms: Date.now() - started };
}

describe("thread limits", () => {
  it("assembles a 50,000-deep reply chain without overflowing the stack", () => {
    const mails = chain(50_000, (i) => (i === 0 ? "[PATCH 1/2] a" : `Re: [PATCH 1/2] a`));
    const errors: ThreadLimitError[] = [];
    const { value, ms } = timed(() =>
      assembleFromSummaries(mails, { maxThreadDepth: 100_000, onLimit: (e) => errors.push(e) }),
    );
    expect(errors).toEqual([]);
    expect(value).toHaveLength(1);
    expect(ms).toBeLessThan(10_000);
  });

  it("cuts a chain deeper than the limit into threads, naming each message cut", () => {
    const mails = chain(5000, (i) => `Re: ${i}`);
    const errors: ThreadLimitError[] = [];
    const roots = buildThreads(mails, { maxDepth: 1000, onLimit: (e) => errors.push(e) });
    expect(roots.length).toBe(5);
    expect(errors).toHaveLength(4);
    expect(errors[0]?.message).toContain("<m1001@x>");
    expect(errors[0]?.reason).toContain("HYPWATCH_MAX_THREAD_DEPTH");
  });

  it("assembles a re-roll chain of 5,000 versions, each in reply to the last", () => {
    const mails = chain(5000, (i) => `[PATCH v${i + 1} 2/3] fix`);
    const { value, ms } = timed(() => assembleFromSummaries(mails, { maxThreadDepth: 10_000 }));
    expect(value).toHaveLength(5000);
    expect(value.at(-1)?.version).toBe(5000);
    expect(ms).toBeLessThan(10_000);
  });

  it("gathers 30,000 reviews of one patch in linear time", () => {
    const patch = summary(0, "[PATCH] a", null, { hasDiff: true });
    const replies = Array.from({ length: 30_000 }, (_, i) =>
      summary(i + 1, "Re: [PATCH] a", "m0@x", {
        author: { name: `R${i}`, email: `r${i}@example.org` },
        replyTrailers: [
          {
            name: "Reviewed-by",
            value: `R${i} <r${i}@example.org>`,
            person: { name: `R${i}`, email: `r${i}@example.org` },
          },
        ],
      }),
    );
    const { value, ms } = timed(() =>
      assembleFromSummaries([patch, ...replies], { maxThreadFanOut: 100_000 }),
    );
    expect(value[0]?.patches[0]?.trailers).toHaveLength(30_000);
    expect(ms).toBeLessThan(5000);
  });

  it("threads replies past the fan-out limit on their own, naming each", () => {
    const root = summary(0, "[PATCH] a", null);
    const replies = Array.from({ length: 30 }, (_, i) => summary(i + 1, "Re: a", "m0@x"));
    const errors: ThreadLimitError[] = [];
    const roots = buildThreads([root, ...replies], {
      maxFanOut: 10,
      onLimit: (e) => errors.push(e),
    });
    expect(roots[0]?.children).toHaveLength(10);
    expect(errors).toHaveLength(20);
    expect(errors[0]?.reason).toContain("HYPWATCH_MAX_THREAD_FAN_OUT");
  });

  it("places 30,000 unthreaded patches and 30,000 same-numbered replies in linear time", () => {
    const unthreaded = Array.from({ length: 30_000 }, (_, i) => summary(i, "[PATCH 1/2] a", null));
    const cover = summary(30_000, "[PATCH 0/2] b", null);
    const answers = Array.from({ length: 30_000 }, (_, i) =>
      summary(30_001 + i, "[PATCH 1/2] b", "m30000@x"),
    );
    const { value, ms } = timed(() =>
      assembleFromSummaries([...unthreaded, cover, ...answers], { maxThreadFanOut: 100_000 }),
    );
    expect(value.length).toBeGreaterThan(30_000);
    expect(value.every((s) => s.revisions.length <= 100)).toBe(true);
    expect(ms).toBeLessThan(15_000);
  });

  it("counts a series complete without looping up to the total it claims", () => {
    const [series] = assembleFromSummaries([
      summary(0, "[PATCH 1/2] a", null),
      summary(1, "[PATCH 2/2] a", "m0@x"),
      summary(2, "[PATCH 5/2] a", "m0@x"),
    ]);
    expect(series?.complete).toBe(true);
    const total = 1e20;
    const huge = summary(0, "[PATCH 1/2] a", null, {
      subject: { ...parseSubject("[PATCH 1/2] a"), total },
    });
    const { value, ms } = timed(() => assembleFromSummaries([huge]));
    expect(value[0]?.complete).toBe(false);
    expect(ms).toBeLessThan(1000);
  });
});
