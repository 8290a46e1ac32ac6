import { describe, expect, it } from "vitest";
import { archiveMessages } from "../../test/series-helpers.js";
import { assembleSeries } from "./index.js";

/**
 * Where `npm run compare:b4 -- ../shared/corpus/kvm-ppc-0.git` found b4 0.12 and us apart
 * on a second whole list, kvm-ppc, and who is right. Each case reads the thread's own mail
 * from the corpus archive.
 */
const ppc = (commits: string[]) => archiveMessages(commits, "kvm-ppc-0.git");

describe("differences with b4 on kvm-ppc, and who is right", () => {
  it("a cover letter that miscounts its patches (0/5 above 1/6..6/6) is theirs: b4 is right, and so are we now", async () => {
    const all = assembleSeries(
      await ppc([
        "4105880031683b47bb37c1db964151d4d1aa6a64", // [PATCH v2 0/5] kvm powerpc/book3s-hv: ...
        "0ecaeb03798a08aa188dc4e8ff2dd2c58fe87a63", // [PATCH v2 1/6] ...
        "d013e5e6c7dfc601c1ba4dd2e1f68dda895bb0fa",
        "ba872976deb18750f30d7a7ba75e6a5029431fba",
        "5a51724c296dd0fc0f3fb3574155d1739c552007",
        "9f994afae181c15fc46cbf8024936759a344bd2c",
        "031db7e2ed8212555cc9dad7063cb3fcb0acb6c4", // [PATCH v2 6/6] ...
      ]),
    );
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      coverMessageId: "20250115143948.369379-1-vaibhav@linux.ibm.com",
      version: 2,
      total: 6,
      complete: true,
    });
    expect(all[0]?.patches.map((p) => p.index)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("[PATCH v5.5 nn/30] is version 5 (b4 0.12 only reads vN, so calls it v1): ours", async () => {
    // A v1 would sort before v2..v5 of the series and never be its newest revision.
    const all = assembleSeries(
      await ppc([
        "3e9d4b52fdf79c97ccea89386b591bb159cb53a7", // [PATCH v5.5 00/30] KVM: Scalable memslots ...
        "5cbf12f910536a9ed12e5b198049cefe76eacb7b", // [PATCH v5.5 01/30] ...
      ]),
    );
    expect(all.map((s) => [s.version, s.coverMessageId])).toEqual([
      [5, "20211104002531.1176691-1-seanjc@google.com"],
    ]);
  });

  it("unversioned patches under a '[RFC PATCH v2 0/2]' cover are v2 (b4 writes them as v1): ours", async () => {
    // v1 was a single "[PATCH] mm: remove extra ZONE_DEVICE struct page refcount"; this cover
    // says v2 and its two patches, threaded to it, carry no version of their own.
    const all = assembleSeries(
      await ppc([
        "9d88dbae2c2457d993b3c28e0a8317f78cd23c14", // [RFC PATCH v2 0/2] mm: remove extra ...
        "57f37a4ae62d764b1bf526a04335d35c497c8413", // [PATCH 1/2] ext4/xfs: add page refcount helper
        "23bd1647a652b0404d78b8d6d15b24cd7f10113b", // [PATCH 2/2] mm: remove extra ...
      ]),
    );
    expect(all.map((s) => [s.version, s.total, s.complete])).toEqual([[2, 2, true]]);
  });

  it("counts Leonardo Bras' Reviewed-by whose address has a typo (gmail,com), which b4 drops: ours", async () => {
    // He sent it himself (From: Leonardo Bras <leobras.c@gmail.com>); the trailer names him,
    // with a comma for a dot. The review was given; a maintainer fixes the address.
    const [series] = assembleSeries(
      await ppc([
        "775a3216b7feef07ff297fcd795604c679293dc4", // [PATCH kernel 1/2] powerpc/iommu: ...
        "00f9f71839b272aaa298e89bcfc5014da57b5045", // Re: from Leonardo Bras
        "c88a2365a5a5d640631c18b0d5f6b689be83cc06", // Re: from David Gibson
      ]),
    );
    const reviews = series?.patches[0]?.trailers.filter((t) => t.name === "Reviewed-by");
    expect(reviews?.map((t) => t.value).sort()).toEqual([
      "David Gibson <david@gibson.dropbear.id.au>",
      "Leonardo Bras <leobras.c@gmail,com>",
    ]);
  });

  it("a partial re-roll ([PATCH v2 3/4] under v1's 3/4) has no cover letter of its own; b4 lends it v1's: ours", async () => {
    // The v1 cover letter speaks for v1; answers about v2 belong under the re-rolled patch.
    const all = assembleSeries(
      await ppc([
        "2481ce368674a4763c5dfd5d6efbd98353d322a0", // [PATCH 0/4] KVM: PPC: Book3S: Fix potential deadlocks
        "2e4a10064447b163ab257dd38bfeb945dde6dba7",
        "dfb93b9456831f19a3ce924f2aefc1a17867bf51",
        "f4e18d047198255ee67f2761843450d5400cc40e",
        "0a0a40178d581a47f2a5d7015d0f7d33a2d461a1",
        "3ae7ae151371d8656470b2153d44581e80e67d8b", // [PATCH v2 3/4] in reply to 3/4
      ]),
    );
    const v2 = all.find((s) => s.version === 2);
    expect(v2).toMatchObject({ coverMessageId: null, complete: true, total: 4 });
    expect(v2?.patches.map((p) => p.messageId)).toContain("20190529015400.GA16539@blackberry");
    expect(all.find((s) => s.version === 1)?.coverMessageId).toBe(
      "20190523063424.GB19655@blackberry",
    );
  });
});
