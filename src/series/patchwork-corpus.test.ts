import { describe, expect, it } from "vitest";
import { corpusMbox } from "../../test/series-helpers.js";
import { assembleSeries } from "./index.js";
import type { Series } from "./types.js";

/**
 * Patchwork's series mboxes (patchwork/tests/series) with what its own test suite expects
 * of each (patchwork/tests/test_series.py): per series, in order of arrival, whether it has
 * a cover letter and how many patches it holds.
 */
const load = async (name: string): Promise<Series[]> =>
  assembleSeries(await corpusMbox("patchwork", "series", name));

const shape = (all: Series[]): { cover: boolean; patches: number }[] =>
  all.map((s) => ({ cover: s.coverMessageId !== null, patches: s.patches.length }));

const cases: [file: string, why: string, expected: { cover: boolean; patches: number }[]][] = [
  ["base-single-patch.mbox", "a single patch without counter", [{ cover: false, patches: 1 }]],
  ["base-cover-letter.mbox", "cover letter and two patches", [{ cover: true, patches: 2 }]],
  ["base-no-cover-letter.mbox", "two patches, no cover", [{ cover: false, patches: 2 }]],
  ["base-deep-threaded.mbox", "--thread=deep: 2/2 replies to 1/2", [{ cover: true, patches: 2 }]],
  ["base-out-of-order.mbox", "2/2, 1/2, then the cover", [{ cover: true, patches: 2 }]],
  ["base-different-versions.mbox", "v3 cover, unversioned patches", [{ cover: true, patches: 4 }]],
  [
    "bugs-multiple-references.mbox",
    "empty and repeated threading headers",
    [{ cover: true, patches: 4 }],
  ],
  ["base-no-references.mbox", "two patches without any references", [{ cover: false, patches: 2 }]],
  [
    "base-no-references-no-cover.mbox",
    "cover and patches, nothing threaded",
    [{ cover: true, patches: 2 }],
  ],
  ["bugs-multiple-content-types.mbox", "a patch and a reply", [{ cover: false, patches: 1 }]],
  [
    "revision-basic.mbox",
    "v1 then v2, separate threads",
    [
      { cover: true, patches: 2 },
      { cover: true, patches: 2 },
    ],
  ],
  [
    "revision-threaded-to-single-patch.mbox",
    "[PATCH v2] in reply to [PATCH]",
    [
      { cover: false, patches: 1 },
      { cover: false, patches: 1 },
    ],
  ],
  [
    "revision-threaded-to-cover.mbox",
    "v2 cover in reply to the v1 cover",
    [
      { cover: true, patches: 2 },
      { cover: true, patches: 2 },
    ],
  ],
  [
    "revision-threaded-to-patch.mbox",
    "v2 cover in reply to v1 2/2",
    [
      { cover: true, patches: 2 },
      { cover: true, patches: 2 },
    ],
  ],
  [
    "revision-out-of-order.mbox",
    "v2 in reply to v1, arriving backwards",
    [
      { cover: true, patches: 2 },
      { cover: true, patches: 2 },
    ],
  ],
  [
    "revision-no-cover-letter.mbox",
    "v2 without cover",
    [
      { cover: true, patches: 2 },
      { cover: false, patches: 2 },
    ],
  ],
  [
    "revision-unlabeled.mbox",
    "a second v1 with its own cover",
    [
      { cover: true, patches: 2 },
      { cover: true, patches: 2 },
    ],
  ],
  [
    "revision-unlabeled-noreferences.mbox",
    "the same two unthreaded patches, an hour apart",
    [
      { cover: false, patches: 2 },
      { cover: false, patches: 2 },
    ],
  ],
  [
    "bugs-unnumbered.mbox",
    "a diff without counter in the thread",
    [
      { cover: true, patches: 1 },
      { cover: false, patches: 1 },
    ],
  ],
  [
    "bugs-nocover-noversion.mbox",
    "an unlabeled resend in reply to 1/2",
    [
      { cover: false, patches: 2 },
      { cover: false, patches: 2 },
    ],
  ],
  [
    "bugs-nocover.mbox",
    "v2 in reply to v1 2/2, no covers",
    [
      { cover: false, patches: 2 },
      { cover: false, patches: 2 },
    ],
  ],
  [
    "bugs-spamming.mbox",
    "1/4 sent three times in minutes",
    [
      { cover: false, patches: 1 },
      { cover: false, patches: 1 },
      { cover: false, patches: 1 },
    ],
  ],
  [
    "bugs-mixed-versions.mbox",
    "v2 2/2 in reply to v1 1/2",
    [
      { cover: false, patches: 1 },
      { cover: false, patches: 1 },
    ],
  ],
  ["base-incomplete.mbox", "cover and 1 of 2", [{ cover: true, patches: 1 }]],
  ["base-extra-patches.mbox", "a 3/2 sent later", [{ cover: true, patches: 3 }]],
  ["mercurial-cover-letter.mbox", "hg email: [PATCH 0 of 2]", [{ cover: true, patches: 2 }]],
  ["mercurial-no-cover-letter.mbox", "hg email without cover", [{ cover: false, patches: 2 }]],
  ["dependency-base-patch.mbox", "v1 cover and two patches", [{ cover: true, patches: 2 }]],
];

describe("Patchwork series mboxes", () => {
  it.each(cases)("%s (%s)", async (file, _why, expected) => {
    expect(shape(await load(file))).toEqual(expected);
  });

  it("orders patches by counter whatever the arrival order", async () => {
    const [s] = await load("base-out-of-order.mbox");
    expect(s?.patches.map((p) => p.index)).toEqual([1, 2]);
    expect(s?.subject).toBe("A sample series");
  });

  it("gives an unversioned patch under a v3 cover the cover's version", async () => {
    const [s] = await load("base-different-versions.mbox");
    expect(s).toMatchObject({ version: 3, total: 4, complete: true });
  });

  it("knows complete from incomplete, and extra patches do not make a series incomplete", async () => {
    expect((await load("base-incomplete.mbox"))[0]?.complete).toBe(false);
    expect((await load("base-cover-letter.mbox"))[0]?.complete).toBe(true);
    const [extra] = await load("base-extra-patches.mbox");
    expect(extra?.complete).toBe(true);
    expect(extra?.patches.map((p) => p.index)).toEqual([1, 2, 3]);
  });

  it.each([
    "revision-basic.mbox",
    "revision-threaded-to-cover.mbox",
    "revision-threaded-to-patch.mbox",
    "revision-out-of-order.mbox",
    "revision-no-cover-letter.mbox",
    "revision-threaded-to-single-patch.mbox",
    "bugs-nocover.mbox",
  ])("%s: v1 and v2 are linked revisions and only v2 is newest", async (file) => {
    const [v1, v2] = await load(file);
    expect([v1?.version, v2?.version]).toEqual([1, 2]);
    expect([v1?.newest, v2?.newest]).toEqual([false, true]);
    expect(v1?.revisions).toEqual([{ id: v2?.id, version: 2 }]);
    expect(v2?.revisions).toEqual([{ id: v1?.id, version: 1 }]);
  });

  it.each([
    "revision-unlabeled.mbox",
    "revision-unlabeled-noreferences.mbox",
    "bugs-nocover-noversion.mbox",
  ])("%s: an unlabeled resend is the newer revision of the same version", async (file) => {
    const [first, second] = await load(file);
    expect(first?.version).toBe(second?.version);
    expect([first?.newest, second?.newest]).toEqual([false, true]);
    expect(first?.revisions.map((r) => r.id)).toEqual([second?.id]);
  });

  it("revision-unlabeled-noreferences: each round of unthreaded patches stays together", async () => {
    const all = await load("revision-unlabeled-noreferences.mbox");
    const ids = all.map((s) => s.patches.map((p) => p.messageId));
    expect(ids).toEqual([
      [
        "1495516865-17019-1-git-send-email-xiaolou4617@gmail.com",
        "1495517379-18456-1-git-send-email-xiaolou4617@gmail.com",
      ],
      [
        "1495516865-17091-1-git-send-email-xiaolou4617@gmail.com",
        "1495517379-18465-1-git-send-email-xiaolou4617@gmail.com",
      ],
    ]);
  });

  it("bugs-mixed-versions: v2 2/2 is not patch 2 of the v1 it replies to", async () => {
    const [v1, v2] = await load("bugs-mixed-versions.mbox");
    expect(v1).toMatchObject({ version: 1, complete: false });
    expect(v2).toMatchObject({ version: 2, complete: false });
    expect(v2?.patches.map((p) => p.index)).toEqual([2]);
  });
});
