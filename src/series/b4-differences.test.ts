import { describe, expect, it } from "vitest";
import { archiveMessages, corpusMbox } from "../../test/series-helpers.js";
import { assembleSeries } from "./index.js";
import type { Series } from "./types.js";

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

  it("an unversioned patch under a versioned cover takes the cover's version (b4 says v1 when the cover has no diffstat)", async () => {
    // "[RFC PATCH v10 0/9] Enable ptp_kvm for arm/arm64" answered by "[RFC PATCH 1/9]".."9/9".
    const messages = await archiveMessages([
      "da621214c34950787bc35cb2cb91df713cf25449",
      "37aac502305e0dc3c7fb07868267ffced6219a8c",
      "985f7cbdba59ba6eac64935cbd0623a2017b53f3",
      "d83f47b5267dc7ef403bfd8a87052625e3daf33e",
      "18fcbc3a94560c5c8acd9ccbcd5de4629e608d3b",
      "69e7c08f7587b34a2bdc598fac535d52136c5822",
      "d60cdbb2f7b2cf5a67b46f3a23938532acbbe4ba",
      "bcbab5c268789addb3d940e415dd0d4b786004f3",
      "8552194c8dcfef91d13fafb2832c998622fc8f27",
      "60ca2fc00406470d4a0b04ff8fc44a936f786f10",
    ]);
    const all = assembleSeries(messages);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      id: "20200210084906.24870-1-jianyong.wu@arm.com",
      version: 10,
      total: 9,
      complete: true,
    });
  });

  it("patches for another tree with another total are their own series (b4 merges every v3 of a thread)", async () => {
    // "[PATCH v3 0/2]" (kernel) and, in reply to the same cover, "[kvmtool v3 3/5]".."5/5".
    const messages = await archiveMessages([
      "6b8c1fcbc300ed33e5acb09b7fb42294e59d06f2",
      "35bc052a47af298c5fd454cca664c787d7dfa44f",
      "355089449f8165b933ff8571d0bd0adaeda5ac88",
      "d3fc30c3d6de1eedc1af729756e7dc19c919e47f",
      "f351c2524de4ce4ad207643e487a272f2d5ecd92",
      "5fa633973cf1108ae123f29cc30dec882ef897e4",
    ]);
    const all = assembleSeries(messages);
    expect(all.map((s) => [s.version, s.total, s.patches.map((p) => p.index), s.complete])).toEqual(
      [
        [3, 2, [1, 2], true],
        [3, 5, [3, 4, 5], false],
      ],
    );
    expect(all[0]?.coverMessageId).toBe("20191011110709.2764-1-christoffer.dall@arm.com");
  });

  it("names the SCS series after Sami Tolvanen, not the Google Group that rewrote From (b4 names it clang_built_linux)", async () => {
    const [scs] = assembleSeries(await corpusMbox("threads", "scs-v7", "scs-v7-thread.mbox"));
    expect(scs?.author).toEqual({ name: "Sami Tolvanen", email: "samitolvanen@google.com" });
  });
});

describe("agreements with b4 that took a fix", () => {
  it("a cover that lacks the vN of the patches answering it is still their cover", async () => {
    // "[PATCH 00/15] arm64: KVM: add SPE profiling support for guest" + "[PATCH v2 01/15]"..
    const messages = await archiveMessages([
      "0541e793a5feca949d54fad51694197650c79309",
      "2cbe9bc0c0ad8dfe981d088316360c6e8d0d5c0d",
      "6cc6bfe44e870e3779c3a676c130c2e35d1f1797",
      "d3056395b5498e4c9ef774e02d6c76cced25d72c",
      "ad5ad45a7e6670fb175df7a541e75ba65b73273c",
      "8a9abad4d185ffd02e01f8741306353111af76ce",
      "c5bf8e4b6dd09efde423253e044d61b452aff5b1",
      "1fc08bb6d1b1111e4e57c4fd98204858f870e448",
      "28175e3f86eb9516d78e8ac58ec26eb54de3d247",
      "e23db8e61d288e952c02cfdd46635982f25d4484",
      "094d7a4f961dc9516dfc75c9010228ddac6765d6",
      "49eedf3ef5d366ce811e92d1f1eb50e692fa6319",
      "5cf48b46b506b77ad53cc50caa7fce75848dc770",
      "044843de393fab17acbe571506e29de7c20f2c43",
      "a2fe74ef67fe119c3e4fe6a14359e5b6d31c9d03",
      "1f3b420eefd995028b210f3a8ad37821425222b7",
    ]);
    const all = assembleSeries(messages);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      id: "20190523103502.25925-1-sudeep.holla@arm.com",
      coverMessageId: "20190523103502.25925-1-sudeep.holla@arm.com",
      version: 2,
      total: 15,
      complete: true,
    });
  });

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

describe("revisions across threads (the kvmarm archive)", () => {
  it("links revisions across a small subject edit ('work-around' then 'workaround')", async () => {
    const messages = await archiveMessages([
      "15abf3cb79039030823a0525b76ae18e83162aa5", // [PATCH v2 0/3] ... work-around
      "8f5b12d63d5deccb0ea2ea6bca6b06495b4ec76f", // [PATCH v3 0/3] ... workaround
      "cdb82e5cf28cf7f3cfe7666e818821c95e8fdb1a", // [PATCH v4 0/3] ... workaround
    ]);
    const all = assembleSeries(messages);
    expect(all.map((s) => [s.version, s.revisions.length, s.newest])).toEqual([
      [2, 2, false],
      [3, 2, false],
      [4, 2, true],
    ]);
  });

  it("does not link two unrelated patches that share a generic subject ('Fix comment typo')", async () => {
    // Two senders' patches a year apart would never link; these are one sender's, in
    // different files, 2021 and 2022: only the words of the subject are the same.
    const messages = await archiveMessages([
      "8be2b8249e0d24118a4aa75332d7cbe695e4d9fa", // [PATCH] KVM: arm64: fix comment typo
      "c91f968cdfb9f123e2145023f7be3e81324c55ae", // [PATCH] KVM: arm64: Fix comment typo
    ]);
    const all = assembleSeries(messages);
    expect(all).toHaveLength(2);
    expect(all[0]?.sender.email).toBe(all[1]?.sender.email);
    expect(all[0]?.patches[0]?.files).not.toEqual(all[1]?.patches[0]?.files);
    expect(all.map((s) => [s.revisions, s.newest])).toEqual([
      [[], true],
      [[], true],
    ]);
  });

  it("links v1 and v2 of a patch; AUTOSEL backports of it are bot mail, not revisions", async () => {
    const messages = await archiveMessages([
      "a57b3528187df226aea2254f22371d873a2b0215", // [PATCH] arm64: KVM: Only skip MMIO insn once
      "79a138773597421771386f50a2ad2855b182f931", // [PATCH v2] ...
      "c604d8fcf53605d6e9023f7b5baac3748cf22385", // [PATCH AUTOSEL 4.19 20/29] ...
      "4685746054aa187086d0dca55d79d6272fdcb1e5", // [PATCH AUTOSEL 4.14 12/14] ...
      "c6f234ef54c04a95a604620f69fd073e7db0cb28", // [PATCH AUTOSEL 4.19 43/45] ...
    ]);
    const all = assembleSeries(messages);
    const byId = new Map(all.map((s) => [s.id, s]));
    const revisionsOf = (id: string): string[] => (byId.get(id)?.revisions ?? []).map((r) => r.id);
    expect(revisionsOf("20190821195030.2569-1-drjones@redhat.com")).toEqual([
      "20190822110305.18035-1-drjones@redhat.com",
    ]);
    expect(byId.get("20190822110305.18035-1-drjones@redhat.com")?.newest).toBe(true);
    // AUTOSEL sends its backports with X-Patchwork-Hint: ignore: not posted for review here.
    expect(all.map((s) => s.id).filter((id) => id.includes("sashal"))).toEqual([]);
    expect(messages.filter((m) => m.botMail?.kind === "patchwork-ignore")).toHaveLength(3);
  });
});

describe("a second series answering the first one's cover letter", () => {
  it("leaves the kernel series its own cover letter (b4 takes the kvmtool series' 0/2 for it): ours", async () => {
    // "[PATCH 0/6] KVM: arm64: Implement PSCI SYSTEM_SUSPEND support" and its 6 patches; a week
    // later "[RFC kvmtool PATCH 0/2] PSCI SYSTEM_SUSPEND support", sent in reply to that cover.
    const all = assembleSeries(
      await archiveMessages([
        "3f307525b473f6f0fceee75bb5c5b15f68bbedb6",
        "c8dfdfdeba3e15aa0aad451e3d4f13367c022c84",
        "666ddcb6ea368320ed3e5946f0c44013f4c1ec64",
        "55d8012b8b7ce6cee2af718cc28e8eba3ec1dba3",
        "b9c0d9360f1600af35816186a040a99145c09f8e",
        "1d46b8014979527fbe72bc42a667788d1d1834f3",
        "7251e66c32c7a490c1730e5e076ad254be0d2f0f",
        "e210f057ba55ff2aaf6428b3aaf7a442375947d2",
      ]),
    );
    const kernel = all.find((s) => s.total === 6);
    expect(kernel).toMatchObject({
      coverMessageId: "20210819223640.3564975-1-oupton@google.com",
      complete: true,
    });
    expect(all.find((s) => s.total === 2)?.coverMessageId).toBe(
      "20210827215827.3774670-1-oupton@google.com",
    );
  });
});

describe("two postings of one version (a RESEND)", () => {
  // "[PATCH 0/2] KVM/arm64: sys_reg_table_init() small improvements", its "[PATCH RESEND ...]"
  // a day later, then v2: each cover letter with the patches of its own posting.
  const V1 = [
    "daa38f541fc36ef7caabf7c62ac57ff110bdf478",
    "027f2b78985421005ecf64aebb2d8e09fadb63b3",
    "d9396b8e5c9b7f202055ec5d9e7e8b50b5ae6093",
  ];
  const RESEND = [
    "c7fd4d8ff70dbca0678b40fd665f9b594b172ee6",
    "3df26d79e5fe107cc9a6a918ebc092f9c33d3487",
    "81760c31497b2f7c57b241d35c5ae66629308945",
  ];
  const V2 = [
    "9c2a818b40f4234d5e82bd383869dffefd938cbe",
    "b88fb1255aa9a3016fb22d03aa4ee6844727a517",
    "44fb49c6b15ecea9bbcd69aaf40ec5f480275552",
  ];
  const posting = (id: string): string => id.split("-")[0] ?? id;
  const postings = (all: Series[]) =>
    all.map((s) => ({
      version: s.version,
      newest: s.newest,
      resend: s.patches.every((p) => p.subject.includes("RESEND")),
      // git send-email numbers one posting's mails <stamp>-<n>-<sender>.
      samePosting: s.patches.every((p) => posting(p.messageId) === posting(s.id)),
    }));

  it("pairs each cover letter with its own posting's patches; v2 is the newest", async () => {
    const all = assembleSeries(await archiveMessages([...V1, ...RESEND, ...V2]));
    expect(postings(all)).toEqual([
      { version: 1, newest: false, resend: false, samePosting: true },
      { version: 1, newest: false, resend: true, samePosting: true },
      { version: 2, newest: true, resend: false, samePosting: true },
    ]);
  });

  it("a resend of v1 arriving after v2 does not become the newest, nor take v1's cover", async () => {
    const all = assembleSeries(await archiveMessages([...V1, ...V2, ...RESEND]));
    expect(postings(all).sort((a, b) => Number(a.resend) - Number(b.resend))).toEqual([
      { version: 1, newest: false, resend: false, samePosting: true },
      { version: 2, newest: true, resend: false, samePosting: true },
      { version: 1, newest: false, resend: true, samePosting: true },
    ]);
  });
});
