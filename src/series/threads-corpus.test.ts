import { describe, expect, it } from "vitest";
import { corpusEmlFolder, corpusMbox, seriesById } from "../../test/series-helpers.js";
import type { MailMessage } from "../mail/index.js";
import { assembleSeries, buildThreads, SeriesAssembler, walkThread } from "./index.js";
import type { Series, SeriesPatch } from "./types.js";

const named = (patch: SeriesPatch | undefined, name: string): string[] =>
  (patch?.trailers ?? []).filter((t) => t.name === name).map((t) => t.person?.email ?? t.value);

const patch = (series: Series, index: number): SeriesPatch | undefined =>
  series.patches.find((p) => p.index === index);

describe("scs-v7: Shadow Call Stack v7, sent through a Google Group that rewrites From", () => {
  const load = (): Promise<MailMessage[]> => corpusMbox("threads", "scs-v7", "scs-v7-thread.mbox");
  const cover = "20200128184934.77625-1-samitolvanen@google.com";

  it("is one complete v7 series of 11 patches by Sami Tolvanen, not by the list", async () => {
    const all = assembleSeries(await load());
    expect(all).toHaveLength(1);
    const scs = seriesById(all, cover);
    expect(scs).toMatchObject({
      version: 7,
      total: 11,
      complete: true,
      newest: true,
      relevant: true,
      coverMessageId: cover,
      author: { name: "Sami Tolvanen", email: "samitolvanen@google.com" },
      subject: "add support for Clang's Shadow Call Stack",
    });
    expect(scs.patches.map((p) => p.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(scs.patches.map((p) => p.messageId)).toEqual(
      Array.from({ length: 11 }, (_, i) => `20200128184934.77625-${i + 2}-samitolvanen@google.com`),
    );
  });

  it("marks only the patches that touch arm64 KVM as relevant (09/11 touches kvm/hyp/Makefile)", async () => {
    const scs = seriesById(assembleSeries(await load()), cover);
    expect(patch(scs, 9)?.files).toContain("arch/arm64/kvm/hyp/Makefile");
    expect(scs.patches.filter((p) => p.relevant).map((p) => p.index)).toEqual([9]);
  });

  it("puts review trailers given in replies on the patch replied to", async () => {
    const scs = seriesById(assembleSeries(await load()), cover);
    expect(named(patch(scs, 9), "Acked-by")).toEqual(["will@kernel.org"]);
    expect(named(patch(scs, 7), "Acked-by")).toEqual(["will@kernel.org"]);
    expect(named(patch(scs, 4), "Reviewed-by")).toEqual(["keescook@chromium.org"]);
    expect(named(patch(scs, 11), "Reviewed-by")).toEqual(["james.morse@arm.com"]);
    expect(named(patch(scs, 11), "Tested-by")).toEqual(["james.morse@arm.com"]);
    // Will acked 07 and 09 in replies, nothing else in this thread: 10 keeps only its own.
    expect(named(patch(scs, 10), "Acked-by")).toEqual([]);
    expect(named(patch(scs, 10), "Reviewed-by")).toEqual(["keescook@chromium.org"]);
  });

  it("never credits the list address for anything", async () => {
    const scs = seriesById(assembleSeries(await load()), cover);
    const emails = scs.patches.flatMap((p) => p.trailers.map((t) => t.person?.email ?? ""));
    expect(emails.some((e) => e.includes("googlegroups.com"))).toBe(false);
  });
});

describe("el2-nvhe-wxn-v1: a cover letter sent twice, 40 s apart", () => {
  it("is one series, with the cover the patches reply to", async () => {
    const all = assembleSeries(
      await corpusMbox("threads", "el2-nvhe-wxn-v1", "el2-nvhe-wxn-v1.mbox"),
    );
    expect(all).toHaveLength(1);
    const [wxn] = all;
    expect(wxn).toMatchObject({
      id: "20210310152656.3821253-1-maz@kernel.org",
      coverMessageId: "20210310152656.3821253-1-maz@kernel.org",
      version: 1,
      total: 4,
      complete: true,
      relevant: true,
      author: { email: "maz@kernel.org" },
    });
    expect(wxn?.patches.map((p) => p.index)).toEqual([1, 2, 3, 4]);
  });

  it("credits the acks given deep in the sub-thread of 3/4 to 3/4 only", async () => {
    const [wxn] = assembleSeries(
      await corpusMbox("threads", "el2-nvhe-wxn-v1", "el2-nvhe-wxn-v1.mbox"),
    );
    if (!wxn) throw new Error("no series");
    expect(named(patch(wxn, 3), "Acked-by")).toContain("will@kernel.org");
    expect(named(patch(wxn, 3), "Acked-by")).toContain("mark.rutland@arm.com");
    for (const index of [1, 2, 4]) expect(named(patch(wxn, index), "Acked-by")).toEqual([]);
  });
});

describe("pmu-emulation-fixes-v2 and tidy-kconfig-makefiles-v4", () => {
  it("pmu: v2, cover + 5 patches, complete, relevant through virt/kvm/arm/pmu.c", async () => {
    const all = assembleSeries(
      await corpusMbox("threads", "pmu-emulation-fixes-v2", "pmu-emulation-fixes-v2.mbox"),
    );
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      id: "20191008160128.8872-1-maz@kernel.org",
      version: 2,
      total: 5,
      complete: true,
      relevant: true,
    });
    expect(all[0]?.patches.some((p) => p.files.includes("virt/kvm/arm/pmu.c"))).toBe(true);
  });

  it("tidy: v4, 4 patches; Suzuki's and Will's acks land on the patches they answered", async () => {
    const all = assembleSeries(
      await corpusMbox("threads", "tidy-kconfig-makefiles-v4", "tidy-kconfig-makefiles-v4.mbox"),
    );
    expect(all).toHaveLength(1);
    const [tidy] = all;
    if (!tidy) throw new Error("no series");
    expect(tidy).toMatchObject({ version: 4, total: 4, complete: true, relevant: true });
    expect(tidy.author.email).toBe("tabba@google.com");
    for (const index of [1, 2, 3]) {
      expect(named(patch(tidy, index), "Acked-by")).toContain("suzuki.poulose@arm.com");
    }
    expect(named(patch(tidy, 4), "Acked-by")).toEqual(["will@kernel.org"]);
  });

  it("tidy: the series is Fuad's (his cover letter); each patch's author is its in-body From", async () => {
    const [tidy] = assembleSeries(
      await corpusMbox("threads", "tidy-kconfig-makefiles-v4", "tidy-kconfig-makefiles-v4.mbox"),
    );
    expect(tidy?.author.email).toBe("tabba@google.com");
    expect(tidy?.sender.email).toBe("tabba@google.com");
    // Will wrote some of the patches Fuad posted: `git am` records him, so do we.
    const authors = tidy?.patches.map((p) => p.author.email) ?? [];
    expect(authors).toContain("will@kernel.org");
    expect(authors).toContain("tabba@google.com");
  });
});

describe("git-pull-5.3-rc3: a series without cover letter", () => {
  it("is its first patch's git author (the in-body From), sent by the maintainer", async () => {
    const all = assembleSeries(
      await corpusMbox("threads", "git-pull-5.3-rc3", "git-pull-5.3-rc3.mbox"),
    );
    expect(all[0]?.sender.email).toBe("maz@kernel.org");
    expect(all[0]?.author).toEqual(all[0]?.patches[0]?.author);
    expect(all[0]?.author.email).not.toBe("maz@kernel.org");
  });
});

describe("git-pull-5.3-rc3: patches threaded under a pull request", () => {
  it("are their own series; the pull request is none", async () => {
    const messages = await corpusMbox("threads", "git-pull-5.3-rc3", "git-pull-5.3-rc3.mbox");
    const all = assembleSeries(messages);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      id: "20190731173650.12627-2-maz@kernel.org",
      coverMessageId: null,
      total: 5,
      complete: true,
    });
    expect(all[0]?.patches.map((p) => p.index)).toEqual([1, 2, 3, 4, 5]);
    expect(all.some((s) => s.id === "20190731173650.12627-1-maz@kernel.org")).toBe(false);
  });
});

describe("arrival order", () => {
  it.each(["scs-v7", "el2-nvhe-wxn-v1", "pmu-emulation-fixes-v2", "tidy-kconfig-makefiles-v4"])(
    "%s gives the same series from its .eml files in name (hash) order as from its mbox",
    async (thread) => {
      const fromMbox = assembleSeries(
        await corpusMbox(
          "threads",
          thread,
          `${thread === "scs-v7" ? "scs-v7-thread" : thread}.mbox`,
        ),
      );
      const fromEml = assembleSeries(await corpusEmlFolder("threads", thread));
      const shape = (all: Series[]): unknown =>
        all.map((s) => ({
          id: s.id,
          complete: s.complete,
          patches: s.patches.map((p) => [p.messageId, p.trailers.length]),
        }));
      expect(shape(fromEml)).toEqual(shape(fromMbox));
    },
  );
});

describe("buildThreads on real mail", () => {
  it("threads scs-v7 under the lost v1 it replies to, with every message in one thread", async () => {
    const messages = await corpusMbox("threads", "scs-v7", "scs-v7-thread.mbox");
    const roots = buildThreads(messages);
    expect(roots).toHaveLength(1);
    const [root] = roots;
    expect(root?.message).toBeNull();
    expect(root?.messageId).toBe("20191018161033.261971-1-samitolvanen@google.com");
    const seen = [
      ...walkThread(root ?? { messageId: "", message: null, parent: null, children: [] }),
    ];
    expect(seen.filter((n) => n.message).length).toBe(
      new Set(messages.map((m) => m.messageId)).size,
    );
  });

  it("treats a cross-posted copy (same Message-ID) as one message and keeps the parsed patch", async () => {
    const messages = await corpusMbox(
      "threads",
      "pmu-emulation-fixes-v2",
      "pmu-emulation-fixes-v2.mbox",
    );
    const first = messages.find((m) => m.patch !== null);
    if (!first) throw new Error("no patch");
    const damaged: MailMessage = {
      ...first,
      patch: null,
      warnings: [{ kind: "decoding", detail: "x" }],
    };
    const assembler = new SeriesAssembler();
    assembler.add(damaged);
    for (const m of messages) assembler.add(m);
    assembler.add(damaged);
    expect(assembler.size).toBe(new Set(messages.map((m) => m.messageId)).size);
    const [pmu] = assembler.finish();
    expect(pmu?.complete).toBe(true);
    expect(pmu?.patches.find((p) => p.messageId === first.messageId)?.files.length).toBeGreaterThan(
      0,
    );
  });
});
