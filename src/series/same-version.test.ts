import { describe, expect, it } from "vitest";
import { archiveMessages } from "../../test/series-helpers.js";
import { assembleSeries } from "./index.js";
import type { Series } from "./types.js";

/**
 * Two postings of one version: "kvm powerpc/book3s-hv: Expose Hostwide counters as
 * perf-events" v4, its v5 (2025-03-17) and "[RESEND PATCH v5 …]" a month later (2025-04-16),
 * real kvm-ppc mail. On the list the resend started a thread of its own; resends are also
 * sent into the original thread, under another prefix, or with the original's cover letter
 * left alone. Those cases move the real mails there by editing one header, and say so.
 */
const V4 = [
  "4f1d6c5d319d0d34d2b8a8dad5e489dce7d5c71f", // [PATCH v4 0/6]
  "5ff1a150653e0e39ec87325312d8269426f8befb",
  "486df45dd6a6a68e420052da13568dde35b9a75b",
  "0903a6ed956ad27299f2368f70946b5d297a0876",
  "a1ab359bc36413e369e5abac9a150f988d440d06",
  "3aa9294b62b98570c0b174694f1b5c54530ef237",
  "1495ee4c0e3fc55c3bbc99e921d9d0b6556b3437",
];
const V5_COVER = "8a0753fa87ae928da4c3b36a165cf2e4f1885716"; // [PATCH v5 0/6]
const V5_PATCHES = [
  "1dfe0a16e0ea50ff33537adfa9ecc5260b0ecf5a",
  "21a4fea6fc965a12b2ddad801dd70914aba3bfd4",
  "02ccc0b6462cb0b376a66bf954354ae2632f872c",
  "f4c6a6edf0e8baedca21b20b5f11126d080feb0e",
  "d0b82c4f8f2b477bf0b0790dfcc387f6624b60eb",
  "47c08c8b64217a48d3335b1024716cda741112f8",
];
const RESEND_COVER = "f6f6629b2408c1a60a45111eb1802423f0f450b0"; // [RESEND PATCH v5 0/6]
const RESEND_PATCHES = [
  "2eca60f912c0aea059615bd605fafd52960c2ce2",
  "4226c37f47d6362c16290b3a6aa263fa6335588d",
  "ec06ff717cb7fd51e4ef78edbafbb0c18a6385d8",
  "ced406d132d53b33a61ac8f2ec07ccb1ebca0804",
  "1b86792ff8bbaeb307d1c3852a7e5e0bff05a602",
  "f9ffb8d2d46071b2d34edf9462c5966f91a57605",
];
const V5_COVER_ID = "20250317100834.451452-1-vaibhav@linux.ibm.com";
const RESEND_COVER_ID = "20250416162740.93143-1-vaibhav@linux.ibm.com";

/** git send-email numbers one posting's mails `<stamp>-<n>-<sender>`. */
const posting = (messageId: string): string => messageId.split("-")[0] ?? messageId;

/** Each series as: version, its cover's posting, whether every patch is of that posting. */
function postings(all: Series[]) {
  return all.map((s) => {
    const own = posting(s.coverMessageId ?? s.patches[0]?.messageId ?? "");
    return {
      version: s.version,
      covered: s.coverMessageId !== null,
      resend: s.patches.every((p) => p.subject.startsWith("[RESEND") || /-next/.test(p.subject)),
      patches: s.patches.length,
      samePosting: s.patches.every((p) => posting(p.messageId) === own),
      newest: s.newest,
      family: s.revisions.length + 1,
    };
  });
}

/** v4, v5 and v5's resend, each with its own cover letter and patches; the resend newest. */
const AS_POSTED = [
  {
    version: 4,
    covered: true,
    resend: false,
    patches: 6,
    samePosting: true,
    newest: false,
    family: 3,
  },
  {
    version: 5,
    covered: true,
    resend: false,
    patches: 6,
    samePosting: true,
    newest: false,
    family: 3,
  },
  {
    version: 5,
    covered: true,
    resend: true,
    patches: 6,
    samePosting: true,
    newest: true,
    family: 3,
  },
];

/** Replace one header's value (the first of its name) in a raw message. */
function setHeader(text: string, name: string, value: string | null): string {
  const header = new RegExp(`^${name}:[^\\n]*\\n(?:[ \\t][^\\n]*\\n)*`, "im");
  const line = value === null ? "" : `${name}: ${value}\n`;
  return header.test(text) ? text.replace(header, line) : text.replace(/\n\n/, `\n${line}\n`);
}

const resendInto =
  (coverId: string, prefix?: string) =>
  (text: string, commit: string): string => {
    if (!RESEND_PATCHES.includes(commit)) return text;
    let out = setHeader(text, "In-Reply-To", `<${coverId}>`);
    out = setHeader(out, "References", `<${coverId}>`);
    if (prefix) out = out.replace(/^Subject: \[RESEND PATCH v5/m, `Subject: [${prefix}`);
    return out;
  };

const ppc = (commits: string[], edit?: (text: string, commit: string) => string) =>
  archiveMessages(commits, "kvm-ppc-0.git", edit);

describe("two postings of one version", () => {
  it("in threads of their own (as on the list): each cover with its own posting, the resend newest", async () => {
    const all = assembleSeries(
      await ppc([...V4, V5_COVER, ...V5_PATCHES, RESEND_COVER, ...RESEND_PATCHES]),
    );
    expect(postings(all)).toEqual(AS_POSTED);
  });

  for (const [what, prefix] of [
    ["RESEND", undefined],
    ["a tree tag", "PATCH-next v5"],
  ] as const) {
    it(`${what} patches sent under the original cover letter do not take it, whichever arrives first`, async () => {
      const edit = resendInto(V5_COVER_ID, prefix);
      const inOrder = assembleSeries(
        await ppc([...V4, V5_COVER, ...V5_PATCHES, ...RESEND_PATCHES], edit),
      );
      const resendFirst = assembleSeries(
        await ppc([...V4, V5_COVER, ...RESEND_PATCHES, ...V5_PATCHES], edit),
      );
      for (const all of [inOrder, resendFirst]) {
        const v5 = all.find((s) => s.coverMessageId === V5_COVER_ID);
        expect(v5?.patches.map((p) => posting(p.messageId))).toEqual(
          Array(6).fill("20250317100834.451452"),
        );
        const resend = all.find((s) =>
          s.patches.some((p) => posting(p.messageId) === "20250416162740.93143"),
        );
        expect(resend).toMatchObject({
          version: 5,
          total: 6,
          complete: true,
          coverMessageId: null,
        });
        expect(resend?.patches.every((p) => posting(p.messageId) === "20250416162740.93143")).toBe(
          true,
        );
        expect(all).toHaveLength(3);
        expect(all.filter((s) => s.newest)).toHaveLength(1);
        expect(all.find((s) => s.version === 4)?.newest).toBe(false);
      }
    });
  }

  it("a cover letter whose patches were not threaded to it keeps them; the resend's twin cover does not take it", async () => {
    // The v5 patches lose their In-Reply-To and References: sent unthreaded, right after their cover.
    const unthread = (text: string, commit: string): string =>
      V5_PATCHES.includes(commit)
        ? setHeader(setHeader(text, "In-Reply-To", null), "References", null)
        : text;
    const all = assembleSeries(
      await ppc([...V4, V5_COVER, ...V5_PATCHES, RESEND_COVER, ...RESEND_PATCHES], unthread),
    );
    expect(postings(all)).toEqual(AS_POSTED);
    expect(all.map((s) => s.coverMessageId)).toContain(RESEND_COVER_ID);
  });

  it("patches sent in reply to the last version's cover stay with their own cover, not the resend's", async () => {
    // The v5 patches answer the v4 cover letter (In-Reply-To and References edited), so
    // nothing is threaded to the v5 cover, whose twin by subject is the RESEND's.
    const V4_COVER_ID = "20250224131522.77104-1-vaibhav@linux.ibm.com";
    const underV4 = (text: string, commit: string): string =>
      V5_PATCHES.includes(commit)
        ? setHeader(
            setHeader(text, "In-Reply-To", `<${V4_COVER_ID}>`),
            "References",
            `<${V4_COVER_ID}>`,
          )
        : text;
    const all = assembleSeries(
      await ppc([...V4, V5_COVER, ...V5_PATCHES, RESEND_COVER, ...RESEND_PATCHES], underV4),
    );
    expect(all.find((s) => s.coverMessageId === V4_COVER_ID)?.version).toBe(4);
    expect(postings(all)).toEqual(AS_POSTED);
  });
});
