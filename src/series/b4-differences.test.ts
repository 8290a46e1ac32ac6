import { describe, expect, it } from "vitest";
import { archiveMessages, corpusMbox } from "../../test/series-helpers.js";
import { assembleSeries } from "./index.js";

/**
 * Where `npm run compare:b4` found b4 0.12 and us apart on real kvmarm threads, and why we
 * hold to our answer. Each case reads the thread's own mail from the corpus archive.
 */
describe("differences with b4, and why ours is right", () => {
  it("a [GIT PULL] is not the cover letter of the patches under it (b4 takes any diffstat-only parent for one)", async () => {
    // "[GIT PULL] KVM/arm64 fixes for 5.8, take #1" and the 11 patches sent in reply to it.
    const messages = await archiveMessages([
      "5b76a40ec4c31396e5cbbbf574ad408bdb9391a0",
      "3e0e7922fcf68809e3e12057ad280d9bee1d82c5",
      "1d7588d90d67dbf0eb52d0bc818af6adeac5ab6f",
      "624952287de1f1026f6d12ac975194c09b1b0f13",
      "dbe2c084c220018068945404b3c49dc4b25417cc",
      "735ade62b01835804832d7af2703a151b1c78761",
      "b50ca16e796f8982df544ba1e7d4c68b51b54dd4",
      "0699b03d19a12e90ab26f9907203439e99ab57e1",
      "51b24c8aaa3b983ba2aeae64dbc8f078ac61ecdf",
      "f4522e040c937bce6b8ec7a426bf4b6fa95b524d",
      "ee167d859dc3227ba16751781afdde6f708dc09f",
      "0a19d19d027ca0d2b6aba4d133fa1639105025aa",
      "6bff28bb0150484ea9de477730d20e706512bafd",
    ]);
    const all = assembleSeries(messages);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      id: "20200611090956.1537104-2-maz@kernel.org",
      coverMessageId: null,
      total: 11,
      complete: true,
      relevant: true,
    });
    expect(all.some((s) => s.id === "20200611090956.1537104-1-maz@kernel.org")).toBe(false);
  });

  it("counts a Tested-by given twice by one person once, in its named form (b4 applies both)", async () => {
    // "[PATCH 0/8] Relax sanity checking for mismatched AArch32 EL1": Sai Prakash Ranjan
    // answers the cover letter twice, once "Tested-by: <address>", once with his name.
    const messages = await archiveMessages([
      "9ed5b10ce4ab2af50ac53174221ec3ea5a446ee6",
      "79ae5899939b0793fe66aa8321b880a11d0f2af4",
      "42a223fcdd45887b229a7b6e9b93ced142e5b9d7",
      "a7b13af141ac805ce635699a784a25974264656a",
      "263481de1e238de3a94bd7fd7c405d3413ae73a0",
      "e23722c93406e90d7c80e5bafc9c25d546437a5d",
      "8fcb52100dd41354dd9d84b21d439648d976c5fd",
      "2ee60ecf9134c979ce680b6ea9319710d39311f0",
      "fd4eb95637e21f62bcdaf6f06db9c0c8d314f94c",
      "99507d3af1c1d5167e9391521bc3f8ae05d5f05f",
      "5bd0e668f8d20815daccd1fa43ef262de5f23f93",
    ]);
    const [series] = assembleSeries(messages);
    expect(series?.complete).toBe(true);
    for (const patch of series?.patches ?? []) {
      const tested = patch.trailers.filter((t) => t.name === "Tested-by");
      expect(tested.map((t) => t.person?.email)).toEqual(["saiprakash.ranjan@codeaurora.org"]);
      expect(tested[0]?.person?.name).toBe("Sai Prakash Ranjan");
    }
  });

  it("names the SCS series after Sami Tolvanen, not the Google Group that rewrote From (b4 names it clang_built_linux)", async () => {
    const [scs] = assembleSeries(await corpusMbox("threads", "scs-v7", "scs-v7-thread.mbox"));
    expect(scs?.author).toEqual({ name: "Sami Tolvanen", email: "samitolvanen@google.com" });
  });
});

describe("agreements with b4 that took a fix", () => {
  it("v1 and v2 sent in one batch, all in reply to the v1 cover: the v2 cover belongs to the v2 patches", async () => {
    // "[PATCH 0/2] A couple of EL2 refcounts fixes" and its v2, sent together by mistake.
    const messages = await archiveMessages([
      "179d796c15b7207c2c06a58efec20086de7ed894",
      "9d1e8665165240fdc45a7aaed71a7d7a6d691989",
      "0d71b69df8074e05966ea1330a99f9d6eb41ae9b",
      "b3fedc58f9ea6cc1fe667977f4483a22c2fcaca8",
      "df6ed833d2b79b784af9617a13d84eee4c7e2857",
      "d62f105fe6b48521f59abc8ce6688badcf3e29f4",
      "760dec626897844ca051295132cd2dd8ca64c458",
    ]);
    const all = assembleSeries(messages);
    expect(all.map((s) => [s.version, s.coverMessageId, s.patches.length, s.newest])).toEqual([
      [1, "20211005090155.734578-1-qperret@google.com", 2, false],
      [2, "20211005090155.734578-4-qperret@google.com", 2, true],
    ]);
    expect(all[1]?.patches.map((p) => p.messageId)).toEqual([
      "20211005090155.734578-5-qperret@google.com",
      "20211005090155.734578-6-qperret@google.com",
    ]);
  });
});
