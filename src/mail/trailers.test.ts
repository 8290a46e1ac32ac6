import { describe, expect, it } from "vitest";
import { archiveMessages } from "../../test/series-helpers.js";
import { parseReplyTrailers } from "./trailers.js";

describe("parseReplyTrailers on real replies from the kvmarm archive", () => {
  it("reads a tag given below a diff the reviewer pasted", async () => {
    // <20191004141005.GT42880@e119886-lin.cambridge.arm.com>: Andrew Murray answers with a
    // suggested diff and his Reviewed-by after it.
    const [reply] = await archiveMessages(["e0fc83866c26326a263e9112dcc331a398d11941"]);
    expect(reply?.messageId).toBe("20191004141005.GT42880@e119886-lin.cambridge.arm.com");
    expect(reply?.replyTrailers.map((t) => `${t.name}: ${t.value}`)).toContain(
      "Reviewed-by: Andrew Murray <andrew.murray@arm.com>",
    );
  });

  it("reads an indented tag", async () => {
    // <20190527092604.GB21613@8bytes.org>
    const [reply] = await archiveMessages(["6864bd17c4afc441c3f83283b48116450dd95ce4"]);
    expect(reply?.replyTrailers.map((t) => `${t.name}: ${t.value}`)).toEqual([
      "Acked-by: Joerg Roedel <jroedel@suse.de>",
    ]);
  });

  it("ignores quoted tags and tags inside a pasted diff", () => {
    const body = [
      "> Reviewed-by: Someone Else <else@example.org>",
      "diff --git a/x.c b/x.c",
      "--- a/x.c",
      "+++ b/x.c",
      "@@ -1 +1 @@",
      "+Acked-by: In The Diff <diff@example.org>",
      "",
      "  Tested-by: Real Reviewer <real@example.org>",
    ].join("\n");
    expect(parseReplyTrailers(body).map((t) => t.name)).toEqual(["Tested-by"]);
  });
});
