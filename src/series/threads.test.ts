import { describe, expect, it } from "vitest";
import { buildThreads, walkThread, type Threadable, type ThreadNode } from "./threads.js";

interface Msg extends Threadable {
  score?: number;
  label?: string;
}

const msg = (messageId: string, refs: string[] = [], inReplyTo: string | null = null): Msg => ({
  messageId,
  references: refs,
  inReplyTo: inReplyTo ?? refs[refs.length - 1] ?? null,
});

/** `id(child,child)` rendering of a thread, placeholders marked with `?`. */
function shape(node: ThreadNode<Msg>): string {
  const name = `${node.message ? "" : "?"}${node.messageId}`;
  return node.children.length === 0 ? name : `${name}(${node.children.map(shape).join(",")})`;
}

describe("buildThreads", () => {
  it("hangs each message under its newest reference", () => {
    const roots = buildThreads([
      msg("c"),
      msg("p1", ["c"]),
      msg("p2", ["c", "p1"]),
      msg("r", ["c"]),
    ]);
    expect(roots.map(shape)).toEqual(["c(p1(p2),r)"]);
  });

  it("keeps replies to a lost message together under a placeholder chained by References", () => {
    const roots = buildThreads([
      msg("p1", ["lost-root", "lost-cover"]),
      msg("p2", ["lost-root", "lost-cover"]),
    ]);
    expect(roots.map(shape)).toEqual(["?lost-root(?lost-cover(p1,p2))"]);
  });

  it("uses In-Reply-To when it is newer than the References", () => {
    const roots = buildThreads([msg("a"), msg("b", ["a"]), msg("c", ["a"], "b")]);
    expect(roots.map(shape)).toEqual(["a(b(c))"]);
  });

  it("breaks loops made by bad headers instead of hanging or dropping mail", () => {
    const roots = buildThreads([msg("a", ["b"]), msg("b", ["a"]), msg("c", ["c"])]);
    const all = roots.flatMap((r) => [...walkThread(r)].map((n) => n.messageId)).sort();
    expect(all).toEqual(["a", "b", "c"]);
    expect(roots.map(shape).sort()).toEqual(["b(a)", "c"]);
  });

  it("falls back to an older reference when the newest one would close a loop", () => {
    const roots = buildThreads([msg("a"), msg("b", ["a", "c"]), msg("c", ["a", "b"])]);
    expect(roots.map(shape)).toEqual(["a(c(b))"]);
  });

  it("ignores garbage ids and strips angle brackets", () => {
    const roots = buildThreads([msg("x"), msg("y", ["<x>", "not an id", ""], "<x>")]);
    expect(roots.map(shape)).toEqual(["x(y)"]);
  });

  it("treats the same Message-ID twice as one message and keeps the better copy", () => {
    const first: Msg = { ...msg("m"), score: 0, label: "list copy" };
    const second: Msg = { ...msg("m"), score: 3, label: "better copy" };
    const roots = buildThreads([first, second], { parseScore: (m) => m.score ?? 0 });
    expect(roots).toHaveLength(1);
    expect(roots[0]?.message?.label).toBe("better copy");
  });
});
