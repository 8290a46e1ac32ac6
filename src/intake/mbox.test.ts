import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { threadMessages } from "../../test/intake-helpers.js";
import { SourceError } from "./errors.js";
import { mboxrdEntry, readMbox, splitMbox } from "./mbox.js";
import { detectSource, readSource } from "./source.js";
import type { RawMail } from "./types.js";

const THREADS = [
  "scs-v7",
  "tidy-kconfig-makefiles-v4",
  "pmu-emulation-fixes-v2",
  "el2-nvhe-wxn-v1",
  "git-pull-5.3-rc3",
  "mime-quirks",
];

async function threadMbox(thread: string): Promise<string> {
  const dir = corpusPath("threads", thread);
  const name = (await readdir(dir)).find((file) => file.endsWith(".mbox"));
  if (!name) throw new Error(`no mbox in ${dir}`);
  return path.join(dir, name);
}

async function collect(mails: AsyncIterable<RawMail>): Promise<RawMail[]> {
  const out: RawMail[] = [];
  for await (const mail of mails) out.push(mail);
  return out;
}

const sortedHex = (raws: Buffer[]): string[] => raws.map((raw) => raw.toString("hex")).sort();

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "hypwatch-mbox-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("readMbox", () => {
  it.each(THREADS)("gives back the %s thread's messages byte for byte", async (thread) => {
    const mails = await collect(readMbox(await threadMbox(thread)));
    const emls = await threadMessages(thread);
    expect(mails.length).toBe(emls.length);
    expect(sortedHex(mails.map((mail) => mail.raw))).toEqual(sortedHex(emls.map((e) => e.raw)));
    const base = path.basename(await threadMbox(thread));
    expect(mails.map((mail) => mail.origin)).toEqual(mails.map((_, i) => `${base}#${i + 1}`));
  });

  it("unescapes the real >From line of mime-quirks and leaves no separator behind", async () => {
    const mails = await collect(readMbox(await threadMbox("mime-quirks")));
    const withFrom = mails.filter((mail) =>
      /^From e095ae6f138418bdb0981b6ef2c07930736aa2c2 /m.test(mail.raw.toString("latin1")),
    );
    expect(withFrom).toHaveLength(1);
    for (const mail of mails) {
      expect(mail.raw.toString("latin1")).not.toMatch(/^From mboxrd@z /m);
      expect(mail.raw.toString("latin1")).not.toMatch(/^>From e095ae6f/m);
    }
  });

  it("splits the same way whatever the chunk boundaries", async () => {
    const bytes = await readFile(await threadMbox("el2-nvhe-wxn-v1"));
    const whole = await collect(splitMbox([bytes], "t"));
    for (const size of [1, 7, 4093]) {
      async function* pieces(): AsyncGenerator<Buffer> {
        for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
      }
      const chunked = await collect(splitMbox(pieces(), "t"));
      expect(chunked.map((mail) => mail.raw.toString("hex"))).toEqual(
        whole.map((mail) => mail.raw.toString("hex")),
      );
    }
  });

  it("keeps CRLF line endings and splits on CRLF separators", async () => {
    const lf = await readFile(await threadMbox("pmu-emulation-fixes-v2"));
    const crlf = Buffer.from(lf.toString("latin1").replace(/\n/g, "\r\n"), "latin1");
    const file = path.join(tmp, "crlf.mbox");
    await writeFile(file, crlf);
    const mails = await collect(readMbox(file));
    const emls = await threadMessages("pmu-emulation-fixes-v2");
    const expected = emls.map((e) =>
      Buffer.from(e.raw.toString("latin1").replace(/\n/g, "\r\n"), "latin1"),
    );
    expect(sortedHex(mails.map((mail) => mail.raw))).toEqual(sortedHex(expected));
  });

  it("reads a last message that has no trailing newline", async () => {
    const bytes = await readFile(await threadMbox("tidy-kconfig-makefiles-v4"));
    const text = bytes.toString("latin1");
    expect(text.endsWith("\n\n")).toBe(true);
    const file = path.join(tmp, "no-newline.mbox");
    await writeFile(file, Buffer.from(text.slice(0, -2), "latin1"));
    const cut = await collect(readMbox(file));
    const full = await collect(readMbox(await threadMbox("tidy-kconfig-makefiles-v4")));
    expect(cut).toHaveLength(full.length);
    const last = full.at(-1)?.raw;
    expect(cut.at(-1)?.raw.toString("latin1")).toBe(last?.subarray(0, -1).toString("latin1"));
    expect(cut.slice(0, -1).map((m) => m.raw.toString("hex"))).toEqual(
      full.slice(0, -1).map((m) => m.raw.toString("hex")),
    );
  });

  it("reads gzip'd mboxrd as lore serves t.mbox.gz, recognised by its magic bytes", async () => {
    const bytes = await readFile(await threadMbox("scs-v7"));
    const named = path.join(tmp, "t.mbox.gz");
    const unnamed = path.join(tmp, "download");
    await writeFile(named, gzipSync(bytes));
    await writeFile(unnamed, gzipSync(bytes));
    expect(await detectSource(named)).toBe("mbox.gz");
    expect(await detectSource(unnamed)).toBe("mbox.gz");
    const emls = await threadMessages("scs-v7");
    for (const file of [named, unnamed]) {
      const mails = await collect(readSource(file));
      expect(sortedHex(mails.map((mail) => mail.raw))).toEqual(sortedHex(emls.map((e) => e.raw)));
    }
  });

  it("refuses a file that is not mbox, naming it", async () => {
    const [first] = await threadMessages("scs-v7");
    if (!first) throw new Error("empty thread");
    const file = path.join(tmp, "message.mbox");
    await writeFile(file, first.raw);
    const error = await collect(readMbox(file)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe("not-mbox");
    expect((error as SourceError).message).toContain("message.mbox");
  });
});

describe("mboxrdEntry", () => {
  it("round-trips every corpus thread message through an mboxrd file", async () => {
    const emls = (await Promise.all(THREADS.map(threadMessages))).flat();
    const file = path.join(tmp, "roundtrip.mbox");
    await writeFile(file, Buffer.concat(emls.map((e) => mboxrdEntry(e.raw))));
    const mails = await collect(readMbox(file));
    expect(mails.map((mail) => mail.raw.toString("hex"))).toEqual(
      emls.map((e) => e.raw.toString("hex")),
    );
  });

  it("escapes From and >From lines one level and reading undoes exactly that", async () => {
    const [first] = await threadMessages("git-pull-5.3-rc3");
    if (!first) throw new Error("empty thread");
    // A real message with quoted From lines at three depths appended to its body.
    const raw = Buffer.concat([
      first.raw,
      Buffer.from("From the start\n>From a quote\n>>From a deeper quote\n"),
    ]);
    const entry = mboxrdEntry(raw).toString("latin1");
    expect(entry).toContain("\n>From the start\n>>From a quote\n>>>From a deeper quote\n");
    const [back] = await collect(splitMbox([Buffer.from(entry, "latin1")], "t"));
    expect(back?.raw.toString("hex")).toBe(raw.toString("hex"));
    // mboxo only knows one level of escaping.
    const [old] = await collect(
      splitMbox([Buffer.from(entry, "latin1")], "t", { format: "mboxo" }),
    );
    expect(old?.raw.toString("latin1")).toContain(
      "\nFrom the start\n>>From a quote\n>>>From a deeper quote\n",
    );
  });
});
