import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { corpusRevList, makeEpoch, threadMessages } from "../../test/intake-helpers.js";
import { SourceError } from "./errors.js";
import { readPublicInbox } from "./publicInbox.js";
import { detectSource, readSource } from "./source.js";
import type { RawMail } from "./types.js";

const ARCHIVE = corpusPath("kvmarm-0.git");

async function take(mails: AsyncIterable<RawMail>, n = Infinity): Promise<RawMail[]> {
  const out: RawMail[] = [];
  if (n <= 0) return out;
  for await (const mail of mails) {
    out.push(mail);
    if (out.length >= n) break;
  }
  return out;
}

let commits: string[];
let tmp: string;
beforeAll(async () => {
  commits = await corpusRevList();
  tmp = await mkdtemp(path.join(tmpdir(), "hypwatch-pi-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("readPublicInbox on kvmarm-0.git", () => {
  it("is detected as a public-inbox archive", async () => {
    expect(await detectSource(ARCHIVE)).toBe("public-inbox");
  });

  it("reads the first messages in commit order, each the commit's blob m", async () => {
    const mails = await take(readSource(ARCHIVE), 25);
    expect(mails.map((mail) => mail.commit)).toEqual(commits.slice(0, 25));
    expect(mails.map((mail) => mail.origin)).toEqual(
      commits.slice(0, 25).map((commit) => `kvmarm-0.git@${commit}`),
    );
    // The oldest message of the archive, as `git show` describes it in the corpus README.
    expect(mails[0]?.raw.toString("latin1")).toMatch(
      /^Subject: Re: \[RFC\] Question about enable doorbell irq and halt_poll process/m,
    );
  });

  it("resumes after a given commit", async () => {
    const since = commits[9];
    const mails = await take(readSource(ARCHIVE, { since }), 5);
    expect(mails.map((mail) => mail.commit)).toEqual(commits.slice(10, 15));
    const tail = await take(readPublicInbox(ARCHIVE, { since: commits.at(-4) }));
    expect(tail.map((mail) => mail.commit)).toEqual(commits.slice(-3));
    const none = await take(readPublicInbox(ARCHIVE, { since: commits.at(-1) }));
    expect(none).toEqual([]);
  });

  it("gives the same bytes as the corpus .eml files taken from it", async () => {
    const manifest = (await readFile(corpusPath("threads", "MANIFEST.tsv"), "utf8"))
      .split("\n")
      .slice(1)
      .map((line) => line.split("\t"))
      .filter((cols) => cols[1]?.startsWith("linux-mailinglist-archives/kvmarm"));
    const wanted = manifest.slice(0, 3);
    expect(wanted.length).toBe(3);
    for (const [file, , where] of wanted) {
      const commit = where?.replace(/^m@/, "") ?? "";
      const index = commits.indexOf(commit);
      expect(index).toBeGreaterThan(0);
      const [mail] = await take(readPublicInbox(ARCHIVE, { since: commits[index - 1] }), 1);
      expect(mail?.commit).toBe(commit);
      expect(mail?.raw.equals(await readFile(corpusPath(file ?? "")))).toBe(true);
    }
  });

  it("refuses a commit it does not have, naming the archive", async () => {
    const error = await take(readPublicInbox(ARCHIVE, { since: "0".repeat(40) })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe("unknown-commit");
    expect((error as SourceError).message).toContain("kvmarm-0.git");
  });
});

describe("readPublicInbox on epochs made with git", () => {
  it("skips deletions and reports a commit without a message", async () => {
    const mails = await threadMessages("el2-nvhe-wxn-v1");
    const [a, b, c] = mails.map((mail) => mail.raw);
    if (!a || !b || !c) throw new Error("thread too short");
    const epoch = path.join(tmp, "deletions.git");
    const made = await makeEpoch(epoch, [{ m: a }, { d: a }, { m: b }, { other: c }, { m: c }]);
    const errors: SourceError[] = [];
    const read = await take(readPublicInbox(epoch, { onError: (e) => errors.push(e) }));
    expect(read.map((mail) => mail.commit)).toEqual([made[0], made[2], made[4]]);
    expect(read.map((mail) => mail.raw.toString("hex"))).toEqual(
      [a, b, c].map((r) => r.toString("hex")),
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]?.origin).toBe(`deletions.git@${made[3]}`);
    // Without onError the same commit stops the read.
    await expect(take(readPublicInbox(epoch))).rejects.toBeInstanceOf(SourceError);
  });

  it("reads a lore mirror's epochs in numeric order and resumes inside one", async () => {
    const mails = (await threadMessages("pmu-emulation-fixes-v2")).map((mail) => mail.raw);
    const inbox = path.join(tmp, "kvmarm");
    await makeEpoch(path.join(inbox, "all.git"), []);
    await mkdir(path.join(inbox, "git"));
    const e0 = await makeEpoch(
      path.join(inbox, "git", "0.git"),
      mails.slice(0, 3).map((m) => ({ m })),
    );
    const e2 = await makeEpoch(
      path.join(inbox, "git", "2.git"),
      mails.slice(3, 5).map((m) => ({ m })),
    );
    const e10 = await makeEpoch(
      path.join(inbox, "git", "10.git"),
      mails.slice(5, 9).map((m) => ({ m })),
    );
    expect(await detectSource(inbox)).toBe("public-inbox");

    const all = await take(readSource(inbox));
    expect(all.map((mail) => mail.commit)).toEqual([...e0, ...e2, ...e10]);
    expect(all.map((mail) => mail.raw.toString("hex"))).toEqual(
      mails.slice(0, 9).map((m) => m.toString("hex")),
    );
    expect(all[3]?.origin).toBe(`kvmarm/git/2.git@${e2[0]}`);

    const resumed = await take(readSource(inbox, { since: e2[0] }));
    expect(resumed.map((mail) => mail.commit)).toEqual([...e2.slice(1), ...e10]);
    const fromLast = await take(readSource(inbox, { since: e0.at(-1) }));
    expect(fromLast.map((mail) => mail.commit)).toEqual([...e2, ...e10]);
  });
});

describe("the whole kvmarm-0.git archive", () => {
  it("holds 21,367 messages, read in under 30 s", { timeout: 60_000 }, async () => {
    const started = Date.now();
    let count = 0;
    let bytes = 0;
    let order = true;
    for await (const mail of readPublicInbox(ARCHIVE)) {
      if (mail.commit !== commits[count]) order = false;
      count++;
      bytes += mail.raw.length;
    }
    expect(count).toBe(21_367);
    expect(order).toBe(true);
    expect(bytes).toBeGreaterThan(200_000_000);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
