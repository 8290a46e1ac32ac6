import { describe, expect, it } from "vitest";
import { kernelTestsAvailable } from "./linux-tree.js";
import { runReplyPath } from "./reply-run.js";

const available = await kernelTestsAvailable();

describe.skipIf(!available)("a series with a hyp violation, through every real peer", () => {
  it(
    "arrives in public-inbox and is answered once, in Dovecot under the patch, and in one issue",
    async () => {
      const report = await runReplyPath({ timeoutMs: 12 * 60_000 });
      expect(report.failures).toEqual([]);
      expect(report.verdict?.kind).toBe("findings");
      expect(report.replies.map((r) => [r.subject, r.threadedUnderSubject])).toEqual([
        [
          "Re: [PATCH 2/3] KVM: arm64: Warn about illegal GICv2 CPU interface accesses",
          "[PATCH 2/3] KVM: arm64: Warn about illegal GICv2 CPU interface accesses",
        ],
      ]);
      expect(report.replies[0]?.text).toContain("hyp/undefined-symbol");
      expect(report.issues.map((i) => i.state)).toEqual(["open"]);
      expect(report.violations).toEqual([]);
    },
    15 * 60_000,
  );
});
