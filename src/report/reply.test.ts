import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  gicv2Context,
  pkvmContext,
  scsContext,
  threadPosts,
  verdictFor,
} from "../../test/report-context.js";
import { oneShotSeries } from "../../test/series-helpers.js";
import type { CheckResult } from "../shapes/check.js";
import { replyPolicySchema } from "../config.js";
import type { ReportContext, ThreadPost } from "../shapes/report.js";
import { formatAddress, planReplies, wrap, type ReplySettings } from "./reply.js";

const settings = (policy: Partial<ReplySettings["policy"]> = {}): ReplySettings => ({
  policy: replyPolicySchema.parse(policy),
  from: "hypwatch <bot@hypwatch.test>",
  listAddress: "kvmarm@lists.linux.dev",
  loreUrl: "https://lore.kernel.org/all",
  messageIdDomain: "hypwatch.test",
  botAddresses: ["lkp@intel.com"],
  messageIdFor: (id) => `reply-to-${id.length}@hypwatch.test`,
  version: "0.1.0",
});

/** Lines over 72 columns that are not quoted code, a single long token or a tag line. */
function overlong(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.length > 72)
    .filter((l) => !/^\s*> /.test(l) && !/^Closes: /.test(l) && l.trim().split(/\s+/).length > 1);
}

let context: ReportContext;
beforeAll(async () => {
  context = await gicv2Context();
});

describe("replies to a series with findings (the GICv2 example, real check output)", () => {
  it("answers the patch that introduced the finding, as a reviewer would", () => {
    const replies = planReplies(context, settings());
    const patch2 = context.current.series.patches[1];
    expect(replies.map((r) => [r.kind, r.inReplyTo])).toEqual([["findings", patch2?.messageId]]);
    const [reply] = replies;
    const cover = context.current.series.coverMessageId;
    expect(reply?.subject).toBe(
      "Re: [PATCH 2/3] KVM: arm64: Warn about illegal GICv2 CPU interface accesses",
    );
    expect(reply?.references).toEqual([cover, patch2?.messageId]);
    expect(reply?.to).toEqual(["Ada Example <ada@example.org>"]);
    expect(reply?.cc).toEqual(["kvmarm@lists.linux.dev"]);
    const text = reply?.text ?? "";
    expect(text).toMatch(
      /^Hi Ada,\n\nhypwatch found 1 problem in hyp code that this patch \(2\/3\)/,
    );
    // One cause, one item: the pr_warn_ratelimited() line brings in two symbols and the
    // ratelimit state, in a section hyp.lds does not map.
    expect(text).toContain(
      "1. hyp/undefined-symbol, hyp/unmapped-section\n" +
        "   arch/arm64/kvm/hyp/include/hyp/switch.h:448 in\n" +
        "   kvm_hyp_handle_dabt_low()\n" +
        "   symbols: ___ratelimit, _printk\n" +
        "   section: .data (_rs.1) in switch.nvhe.o, not mapped at EL2\n",
    );
    expect(text).not.toContain("2. ");
    // Code is quoted as written: its backslashes are not doubled.
    expect(text).toContain('access at %llx\\n",');
    expect(text).toMatch(/Usual fix: /);
    // The patch's own added line, quoted from its hunk.
    expect(text).toMatch(/^ {3}> \+.*WARN|^ {3}> \+.*pr_/m);
    expect(text).toContain("Reported-by: hypwatch <bot@hypwatch.test>");
    expect(text).toContain(`Closes: https://lore.kernel.org/all/reply-to-`);
    expect(text).toMatch(/To reproduce:\n {2}hypwatch check --base [0-9a-f]{12} \\\n {4}'/);
    expect(text).toMatch(/^compiler: {2}aarch64-linux-gnu-gcc/m);
    expect(overlong(text)).toEqual([]);
    // Nothing a tool printed: no build directory, no log path.
    expect(text).not.toMatch(/\/var\/cache|\.log\b|\/tmp\//);
    expect(text.endsWith("-- \nhypwatch 0.1.0: compile-time checks of arm64 KVM hyp code\n")).toBe(
      true,
    );
  });

  it("says nothing when the list is off, and only to the author in author mode", () => {
    expect(planReplies(context, settings({ mode: "off" }))).toEqual([]);
    const [reply] = planReplies(context, settings({ mode: "author" }));
    expect(reply?.to).toEqual(["Ada Example <ada@example.org>"]);
    expect(reply?.cc).toEqual([]);
  });

  it("never answers a bot, or its own mail", () => {
    const fromBot = (change: Partial<ThreadPost>): ReportContext => ({
      ...context,
      posts: new Map([...context.posts].map(([id, p]) => [id, { ...p, ...change }])),
    });
    const lkp = { name: "kernel test robot", email: "lkp@intel.com" };
    expect(planReplies(fromBot({ author: lkp }), settings())).toEqual([]);
    expect(planReplies(fromBot({ automated: true }), settings())).toEqual([]);
    const own = { name: "hypwatch", email: "bot@hypwatch.test" };
    expect(planReplies(fromBot({ author: own }), settings())).toEqual([]);
  });

  it("keeps hostile text out of headers and shows it escaped in the body", () => {
    const patch2 = context.current.series.patches[1]?.messageId ?? "";
    const post = context.posts.get(patch2);
    if (!post) throw new Error("no patch 2");
    const hostile: ReportContext = {
      ...context,
      current: {
        ...context.current,
        verdict: { ...context.current.verdict, subject: "evil\u202e\r\nBcc: victim@example.com" },
      },
      posts: new Map(context.posts).set(patch2, {
        ...post,
        subject: "[PATCH 2/3] x\r\nBcc: victim@example.com",
        author: { name: 'Mallory "\r\nBcc: x" <m@x>', email: "ada@example.org" },
      }),
    };
    const [reply] = planReplies(hostile, settings());
    expect(reply?.subject).not.toMatch(/[\r\n]/);
    expect(reply?.to[0]).toBe('"Mallory \\"  Bcc: x\\" <m@x>" <ada@example.org>');
    expect(reply?.text).toContain('series:    v1 "evil\\u202e\\r\\nBcc: victim@example.com"');
    expect(reply?.text).not.toContain("\u202e");
  });
});

describe("a real kvmarm series with one line changed to use __va() in nVHE code", () => {
  it("names the line the author wrote, the function it sits in and the inline chain", async () => {
    const pkvm = await pkvmContext();
    const replies = planReplies(pkvm, settings());
    const patch2 = pkvm.current.series.patches[1];
    expect(replies.map((r) => [r.kind, r.inReplyTo])).toEqual([["findings", patch2?.messageId]]);
    const [reply] = replies;
    expect(reply?.to).toEqual(["Oliver Upton <oliver.upton@linux.dev>"]);
    expect(reply?.cc).toContain("kvmarm@lists.linux.dev");
    const text = reply?.text ?? "";
    expect(text).toContain(
      "1. hyp/undefined-symbol\n" +
        "   arch/arm64/kvm/hyp/nvhe/mem_protect.c:555 in hyp_complete_share(),\n" +
        "   inlined into __pkvm_host_share_hyp()\n" +
        "   symbol: memstart_addr\n" +
        "   inline chain: __pkvm_host_share_hyp():742 -> do_share():642 ->\n" +
        "     __do_share():616 -> hyp_complete_share():555\n",
    );
    expect(text).toContain("   > +\tvoid *start = __va(tx->target.addr);\n");
    expect(overlong(text)).toEqual([]);
  });
});

describe("replies across revisions", () => {
  it("is quiet on a clean series unless the list opts in", () => {
    const clean: ReportContext = {
      ...context,
      current: { ...context.current, verdict: verdictFor(context.current.series, "clean", null) },
    };
    expect(planReplies(clean, settings())).toEqual([]);
    const [note] = planReplies(clean, settings({ clean: true }));
    expect(note?.kind).toBe("clean");
    expect(note?.inReplyTo).toBe(context.current.series.coverMessageId);
  });

  it("says a reported problem is fixed only where the list asks for it", () => {
    const v2 = { ...context.current.series, version: 2 };
    const fixed: ReportContext = {
      ...context,
      previous: context.current,
      current: {
        ...context.current,
        series: v2,
        verdict: verdictFor(v2, "clean", { ...context.current.verdict.result!, findings: [] }),
      },
    };
    expect(planReplies(fixed, settings())).toEqual([]);
    const [note] = planReplies(fixed, settings({ fixed: true }));
    expect(note?.kind).toBe("fixed");
    expect(note?.text).toContain("none of the hyp problems it reported on v1");
  });

  it("marks what a new revision still has, with a summary under the cover letter", () => {
    const v2 = { ...context.current.series, version: 2 };
    const again: ReportContext = {
      ...context,
      previous: context.current,
      current: {
        ...context.current,
        series: v2,
        verdict: verdictFor(v2, "findings", context.current.verdict.result),
      },
    };
    const replies = planReplies(again, settings());
    expect(replies.map((r) => r.kind)).toEqual(["findings", "summary"]);
    expect(replies[0]?.text).toContain("(also in the last version)");
    expect(replies[1]?.text).toMatch(/Compared with v1:\n {2}fixed: 0\n {2}new: {3}0/);
  });

  it("leaves out ignored rules, and does not call them fixed on the next version", () => {
    const rules = [...new Set(context.current.verdict.result!.findings.map((f) => f.rule))];
    expect(rules.length).toBeGreaterThan(1);
    const [kept, ...ignored] = rules;
    const [reply] = planReplies({ ...context, ignored }, settings());
    for (const rule of ignored) expect(reply?.text).not.toContain(rule);
    expect(reply?.text).toContain(kept);
    expect(planReplies({ ...context, ignored: rules }, settings())).toEqual([]);

    const v2 = { ...context.current.series, version: 2 };
    const left = context.current.verdict.result!.findings.filter((f) => f.rule === kept);
    const fixedOnlyKept: ReportContext = {
      ...context,
      ignored,
      previous: context.current,
      current: {
        ...context.current,
        series: v2,
        verdict: verdictFor(v2, "findings", { ...context.current.verdict.result!, findings: left }),
      },
    };
    const replies = planReplies(fixedOnlyKept, settings());
    expect(replies.map((r) => r.kind)).toEqual(["findings", "summary"]);
    expect(replies[1]?.text).toMatch(/Compared with v1:\n {2}fixed: 0\n/);
  });
});

describe("a series that does not apply (SCS v7, real thread and real check output)", () => {
  it("is quiet by default, and names each base tried where the list asks", async () => {
    const scs = await scsContext();
    expect(planReplies(scs, settings())).toEqual([]);
    const replies = planReplies(scs, settings({ notApplied: true }));
    expect(replies.map((r) => [r.kind, r.inReplyTo])).toEqual([
      ["not-applied", scs.current.series.coverMessageId],
    ]);
    const [reply] = replies;
    // The author behind the Google Group's rewritten From.
    expect(reply?.to).toEqual(["Sami Tolvanen <samitolvanen@google.com>"]);
    expect(reply?.cc).toContain("clang-built-linux@googlegroups.com");
    expect(reply?.subject).toBe("Re: [PATCH v7 00/11] add support for Clang's Shadow Call Stack");
    expect(reply?.text).toContain(
      "hypwatch could not check this series: it does not apply to any base it\ntried.\n\nseries:    v7",
    );
    expect(reply?.text).toContain("  b0be0eff1a5ab77d588b76bd8b1c92d5d17b3f73: not in the tree\n");
    expect(reply?.text).toContain(
      "  HEAD (671045f1a663): patch 1/11 does not apply (context-mismatch)\n",
    );
    // It named its base-commit: no nudge to add one.
    expect(reply?.text).not.toContain("format-patch --base");
    expect(overlong(reply?.text ?? "")).toEqual([]);
  });
});

describe("text helpers", () => {
  it("wraps words within the width", () => {
    expect(wrap("aaa bbb ccc", 7)).toEqual(["aaa bbb", "ccc"]);
    expect(wrap("a " + "x".repeat(80), 72, "  ")).toEqual(["  a", `  ${"x".repeat(80)}`]);
  });

  it("formats addresses safely, refusing unusable ones", () => {
    expect(formatAddress({ name: "Ada Example", email: "ada@example.org" })).toBe(
      "Ada Example <ada@example.org>",
    );
    expect(formatAddress({ name: "Doe, John", email: "j@x.org" })).toBe('"Doe, John" <j@x.org>');
    expect(formatAddress({ name: "x", email: "a@b>, evil@c" })).toBeNull();
    expect(formatAddress({ name: "", email: "ada@example.org" })).toBe("ada@example.org");
  });
});

const CAUSES = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../test/fixtures/causes",
);

/** A mutation case's one-patch series with the check JSON bench:mutations kept for it. */
async function benchContext(name: string): Promise<ReportContext> {
  const mail = { raw: await readFile(path.join(CAUSES, `${name}.patch`)), origin: name };
  const { relevant } = await oneShotSeries([mail]);
  const series = relevant[0];
  if (!series) throw new Error(`${name}: no relevant series`);
  const text = await readFile(path.join(CAUSES, `${name}.check.json`), "utf8");
  const result = JSON.parse(text) as CheckResult;
  return {
    current: {
      list: "kvmarm",
      revision: "r",
      series,
      verdict: verdictFor(series, "findings", result),
    },
    previous: null,
    posts: await threadPosts([mail]),
  };
}

describe("one item per cause on the mutation benchmark's real check output", () => {
  it("answers a dropped KASAN_SANITIZE line once, with the objects and sections it reaches", async () => {
    const [reply] = planReplies(await benchContext("instr-kasan"), settings());
    const text = reply?.text ?? "";
    expect(text).toContain("hypwatch found 1 problem");
    expect(text).toContain(
      "1. hyp/instrumentation, hyp/unmapped-section\n" +
        "   arch/arm64/kvm/hyp/nvhe/Makefile:104 (removed: KASAN_SANITIZE := n)\n" +
        "   instrumentation: kasan in 20 objects: aarch32.nvhe.o,\n",
    );
    expect(text).toContain("   section: .data in 11 objects: ");
    expect(text).toContain("   > -KASAN_SANITIZE\t:= n\n");
    expect(text).not.toContain("2. ");
    expect(overlong(text)).toEqual([]);
  });

  it("answers a reverted alias once, naming every place it leaves undefined", async () => {
    const [reply] = planReplies(await benchContext("alias-revert-vgic-global-state"), settings());
    const text = reply?.text ?? "";
    expect(text).toContain("hypwatch found 1 problem");
    expect(text).toContain(
      "   arch/arm64/kernel/image-vars.h:66 (removed:\n" +
        "   KVM_NVHE_ALIAS(kvm_vgic_global_state);)\n" +
        "   in 3 places:\n" +
        "     arch/arm64/include/asm/jump_label.h:22 in arch_static_branch(),\n" +
        "       inlined into __kvm_vcpu_run()\n" +
        "     arch/arm64/kvm/hyp/vgic-v2-cpuif-proxy.c:67 in\n",
    );
    expect(text).toContain("   > -KVM_NVHE_ALIAS(kvm_vgic_global_state);\n");
    expect(text).not.toContain("2. ");
  });
});

describe("answering what building every step found (the GICv2 example, a later patch removing it)", () => {
  /** The GICv2 example's problem, as the steps of a series whose patch 3 removes it again. */
  const stepsContext = (): ReportContext => {
    const result = context.current.verdict.result!;
    return {
      ...context,
      previous: null,
      steps: true,
      current: {
        ...context.current,
        verdict: {
          ...context.current.verdict,
          result: {
            ...result,
            findings: result.findings.map((f) => ({ ...f, fixedBy: 3 })),
            causes: (result.causes ?? []).map((c) => ({ ...c, fixedBy: 3 })),
          },
        },
      },
    };
  };

  it("answers the patch that brought the problem in, saying a later patch removes it", () => {
    const replies = planReplies(stepsContext(), settings());
    const patch2 = context.current.series.patches[1];
    expect(replies.map((r) => [r.kind, r.inReplyTo])).toEqual([["findings", patch2?.messageId]]);
    const text = replies[0]?.text ?? "";
    expect(text).toMatch(
      /^Hi Ada,\n\nhypwatch built each patch of this series in turn and found 1 problem in\nhyp code that this patch \(2\/3\) introduces and a later patch removes\nagain\. The series as a whole does not have it,/,
    );
    expect(text).toContain("(removed again by patch 3 of the series)");
    expect(text).toMatch(/hypwatch check --base [0-9a-f]{12} --every-step \\/);
    expect(overlong(text)).toEqual([]);
  });

  it("says nothing of steps that found nothing more", () => {
    const quiet = stepsContext();
    quiet.current.verdict = { ...quiet.current.verdict, kind: "clean" };
    expect(planReplies(quiet, settings({ clean: true }))).toEqual([]);
  });
});
