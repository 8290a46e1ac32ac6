import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { mboxrdEntry, splitMbox } from "../intake/index.js";
import { b4Am } from "../io/b4.js";
import { parseMail, type MailMessage } from "../mail/index.js";
import { assembleSeries } from "./index.js";
import type { Series } from "./types.js";

/**
 * The kvmarm archive holds no partial re-roll (no `[PATCH vN k/M]` answers a `[PATCH vN-1 k/M]`
 * anywhere in it), so this one is made from the real tidy-kconfig-makefiles-v4 thread: its
 * patch 3/4, re-sent as "[PATCH v5 3/4]" in reply to the v4 one, a week later. b4 stitches
 * such a re-roll into a whole v5 from the v4 patches; so must we.
 */
const THREAD = corpusPath("threads", "tidy-kconfig-makefiles-v4");
const V4_COVER = "20200421131734.141766-1-tabba@google.com";
const V4_PATCH_3 = "20200421131734.141766-4-tabba@google.com";
const V5_PATCH_3 = "20200428090000.1-reroll-tabba@hypwatch.invalid";

function rerollOfPatch3(raw: Buffer, version = "v5", messageId = V5_PATCH_3): Buffer {
  const text = raw.toString("latin1");
  const split = text.indexOf("\n\n");
  const head = text
    .slice(0, split)
    .replace(/^Date: .*$/m, "Date: Tue, 28 Apr 2020 10:00:00 +0100")
    .replace(/^In-Reply-To: .*$/m, `In-Reply-To: <${V4_PATCH_3}>`)
    .replace(/^References: .*$/m, `References: <${V4_COVER}> <${V4_PATCH_3}>`)
    .replace(/^Message-Id: .*$/m, `Message-Id: <${messageId}>`)
    .replace(/^Subject: \[PATCH v4 3\/4\]/m, `Subject: [PATCH ${version} 3/4]`);
  return Buffer.from(head + text.slice(split), "latin1");
}

let dir = "";
let mbox = "";
let messages: MailMessage[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "hypwatch-reroll-"));
  const names = (await readdir(THREAD)).filter((n) => n.endsWith(".eml")).sort();
  const raws: Buffer[] = await Promise.all(names.map((n) => readFile(path.join(THREAD, n))));
  const patch3 = raws.find((r) => r.includes(`Message-Id: <${V4_PATCH_3}>`));
  if (!patch3) throw new Error("v4 3/4 not found in the corpus thread");
  raws.push(rerollOfPatch3(patch3));
  mbox = path.join(dir, "thread.mbox");
  await writeFile(mbox, Buffer.concat(raws.map((raw) => mboxrdEntry(raw))));
  messages = await Promise.all(
    raws.map((raw, i) => parseMail({ raw, origin: `thread.mbox#${i + 1}` })),
  );
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const newest = (all: Series[]): Series | undefined => all.find((s) => s.version === 5);

describe("a partial re-roll: [PATCH v5 3/4] in reply to [PATCH v4 3/4]", () => {
  it("is a whole v5: its own 3/4 and the v4 patches 1, 2 and 4", async () => {
    const v5 = newest(assembleSeries(messages));
    expect(v5).toMatchObject({
      id: V5_PATCH_3,
      version: 5,
      total: 4,
      complete: true,
      newest: true,
      coverMessageId: null,
      subject: "KVM: arm64: Tidy up arch Kconfig and Makefiles",
    });
    expect(v5?.patches.map((p) => p.messageId)).toEqual([
      "20200421131734.141766-2-tabba@google.com",
      "20200421131734.141766-3-tabba@google.com",
      V5_PATCH_3,
      "20200421131734.141766-5-tabba@google.com",
    ]);
  });

  it("makes v4 an older revision of v5", async () => {
    const all = assembleSeries(messages);
    const v4 = all.find((s) => s.id === V4_COVER);
    expect(v4).toMatchObject({ version: 4, newest: false, complete: true });
    expect(v4?.revisions).toEqual([{ id: V5_PATCH_3, version: 5 }]);
    expect(newest(all)?.revisions).toEqual([{ id: V4_COVER, version: 4 }]);
  });

  it("agrees with b4 am on the same mbox, patch for patch", async () => {
    const b4 = await b4Am(mbox, V4_COVER);
    expect(b4.mbx, b4.log).not.toBeNull();
    const ids: string[] = [];
    for await (const mail of splitMbox([b4.mbx ?? Buffer.alloc(0)], "b4.mbx")) {
      ids.push((await parseMail(mail)).messageId);
    }
    expect(b4.log).toMatch(/Partial reroll detected/);
    expect(newest(assembleSeries(messages))?.patches.map((p) => p.messageId)).toEqual(ids);
  });
});

/**
 * A fractional re-roll, "[PATCH v4.1 3/4]" in reply to "[PATCH v4 3/4]" (the same real
 * thread, patch 3 re-sent that way): a replacement of patch 3 of v4, not a new series of
 * one patch out of four.
 */
describe("a fractional re-roll: [PATCH v4.1 3/4] in reply to [PATCH v4 3/4]", () => {
  const V41_PATCH_3 = "20200428090000.1-v41-tabba@hypwatch.invalid";
  let fractional: MailMessage[] = [];
  let fractionalMbox = "";

  beforeAll(async () => {
    const names = (await readdir(THREAD)).filter((n) => n.endsWith(".eml")).sort();
    const raws: Buffer[] = await Promise.all(names.map((n) => readFile(path.join(THREAD, n))));
    const patch3 = raws.find((r) => r.includes(`Message-Id: <${V4_PATCH_3}>`));
    if (!patch3) throw new Error("v4 3/4 not found in the corpus thread");
    raws.push(rerollOfPatch3(patch3, "v4.1", V41_PATCH_3));
    fractionalMbox = path.join(dir, "fractional.mbox");
    await writeFile(fractionalMbox, Buffer.concat(raws.map((raw) => mboxrdEntry(raw))));
    fractional = await Promise.all(
      raws.map((raw, i) => parseMail({ raw, origin: `fractional.mbox#${i + 1}` })),
    );
  });

  it("replaces patch 3 of v4; no incomplete series of one patch appears", () => {
    const all = assembleSeries(fractional);
    expect(all.map((s) => [s.id, s.version, s.complete])).toEqual([[V4_COVER, 4, true]]);
    expect(all[0]?.patches.map((p) => p.messageId)).toEqual([
      "20200421131734.141766-2-tabba@google.com",
      "20200421131734.141766-3-tabba@google.com",
      V41_PATCH_3,
      "20200421131734.141766-5-tabba@google.com",
    ]);
  });

  it("differs from b4 am, which keeps the first patch 3 of version 4: the one v4.1 replaced", async () => {
    const b4 = await b4Am(fractionalMbox, V4_COVER);
    expect(b4.mbx, b4.log).not.toBeNull();
    const ids: string[] = [];
    for await (const mail of splitMbox([b4.mbx ?? Buffer.alloc(0)], "b4.mbx")) {
      ids.push((await parseMail(mail)).messageId);
    }
    // b4 0.12 reads "v4.1" as version 4 and drops a second 3/4 of one version, so it would
    // apply the patch its author replaced. Ours takes the replacement; the rest agree.
    const ours = assembleSeries(fractional)[0]?.patches.map((p) => p.messageId) ?? [];
    expect(ids[2]).toBe(V4_PATCH_3);
    expect(ours[2]).toBe(V41_PATCH_3);
    expect(ours.filter((_, i) => i !== 2)).toEqual(ids.filter((_, i) => i !== 2));
  });
});
