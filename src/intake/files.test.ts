import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { threadMessages } from "../../test/intake-helpers.js";
import { SourceError } from "./errors.js";
import { readMaildir } from "./files.js";
import { detectSource, readSource } from "./source.js";
import type { RawMail } from "./types.js";

async function collect(mails: AsyncIterable<RawMail>): Promise<RawMail[]> {
  const out: RawMail[] = [];
  for await (const mail of mails) out.push(mail);
  return out;
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "hypwatch-files-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("Maildir", () => {
  it("reads cur/ and new/ in delivery order, the same on every run", async () => {
    const mails = await threadMessages("tidy-kconfig-makefiles-v4");
    const maildir = path.join(tmp, "Maildir");
    for (const sub of ["cur", "new", "tmp"])
      await mkdir(path.join(maildir, sub), { recursive: true });
    // Delivery times 9..20 seconds apart, so numeric order differs from string order.
    const placed = mails.map((mail, i) => {
      const seconds = 1580000000 + (i + 1) * (i < 3 ? 3 : 10);
      const sub = i % 3 === 0 ? "new" : "cur";
      const name = `${seconds}.M${i}P100.host${sub === "cur" ? ":2,S" : ""}`;
      return { sub, name, raw: mail.raw };
    });
    for (const { sub, name, raw } of [...placed].reverse()) {
      await writeFile(path.join(maildir, sub, name), raw);
    }
    // Deliveries in progress and dot files are not mail yet.
    await writeFile(path.join(maildir, "tmp", "1580000001.M0P1.host"), "partial");
    await writeFile(path.join(maildir, "cur", ".hidden"), "not mail");

    expect(await detectSource(maildir)).toBe("maildir");
    const read = await collect(readSource(maildir));
    expect(read.map((mail) => mail.origin)).toEqual(
      placed.map(({ sub, name }) => `Maildir/${sub}/${name}`),
    );
    expect(read.map((mail) => mail.raw.toString("hex"))).toEqual(
      placed.map(({ raw }) => raw.toString("hex")),
    );
    const again = await collect(readMaildir(maildir));
    expect(again.map((mail) => mail.origin)).toEqual(read.map((mail) => mail.origin));
  });

  it("reads a Maildir that has only new/", async () => {
    const [first] = await threadMessages("scs-v7");
    if (!first) throw new Error("empty thread");
    const maildir = path.join(tmp, "only-new");
    await mkdir(path.join(maildir, "new"), { recursive: true });
    await writeFile(path.join(maildir, "new", "1.M1P1.host"), first.raw);
    const read = await collect(readSource(maildir));
    expect(read.map((mail) => mail.raw.equals(first.raw))).toEqual([true]);
  });
});

describe(".eml files", () => {
  it("reads one .eml file as one message", async () => {
    const file = corpusPath(
      "threads",
      "mime-quirks",
      "0a98a83dd124334f6e18283aaef6e0696a2c7491.eml",
    );
    expect(await detectSource(file)).toBe("eml");
    const read = await collect(readSource(file));
    expect(read).toHaveLength(1);
    expect(read[0]?.origin).toBe("0a98a83dd124334f6e18283aaef6e0696a2c7491.eml");
    const [expected] = (await threadMessages("mime-quirks")).filter((m) =>
      m.name.startsWith("0a98"),
    );
    expect(read[0]?.raw.equals(expected?.raw ?? Buffer.alloc(0))).toBe(true);
  });

  it("reads a directory of .eml files, skipping other files", async () => {
    const dir = corpusPath("threads", "mime-quirks");
    expect(await detectSource(dir)).toBe("eml");
    const read = await collect(readSource(dir));
    const names = (await readdir(dir)).filter((name) => name.endsWith(".eml"));
    expect(names.length).toBe(16);
    expect(read.map((mail) => mail.origin).sort()).toEqual(
      names.map((name) => `mime-quirks/${name}`).sort(),
    );
    const emls = await threadMessages("mime-quirks");
    const byOrigin = new Map(read.map((mail) => [mail.origin, mail.raw]));
    for (const eml of emls) {
      expect(byOrigin.get(`mime-quirks/${eml.name}`)?.equals(eml.raw)).toBe(true);
    }
  });

  it("orders numbered .eml files by number", async () => {
    const mails = (await threadMessages("scs-v7")).slice(0, 3);
    const dir = path.join(tmp, "numbered");
    await mkdir(dir);
    const names = ["2.eml", "10.eml", "1.eml"];
    for (const [i, name] of names.entries())
      await writeFile(path.join(dir, name), mails[i]?.raw ?? "");
    const read = await collect(readSource(dir));
    expect(read.map((mail) => mail.origin)).toEqual([
      "numbered/1.eml",
      "numbered/2.eml",
      "numbered/10.eml",
    ]);
    expect(read[2]?.raw.equals(mails[1]?.raw ?? Buffer.alloc(0))).toBe(true);
  });
});

describe("detectSource", () => {
  it("goes by content: a single message named .mbox is one message", async () => {
    const file = corpusPath("patchwork", "mail", "0007-cvs-format-diff.mbox");
    expect(await detectSource(file)).toBe("eml");
    expect(await collect(readSource(file))).toHaveLength(1);
    const mbox = corpusPath("patchwork", "mail", "0010-invalid-charset.mbox");
    expect(await detectSource(mbox)).toBe("mbox");
  });
});

describe("readSource errors", () => {
  it("names a missing source", async () => {
    const missing = path.join(tmp, "no-such.mbox");
    const error = await collect(readSource(missing)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe("not-found");
    expect((error as SourceError).message).toContain(missing);
  });

  it("names a directory that holds no mail", async () => {
    const empty = path.join(tmp, "empty");
    await mkdir(empty);
    const error = await collect(readSource(empty)).catch((e: unknown) => e);
    expect((error as SourceError).code).toBe("unknown-kind");
    expect((error as SourceError).message).toContain(empty);
  });

  it("refuses a resume point for a source that has no commits", async () => {
    const mbox = corpusPath("threads", "scs-v7", "scs-v7-thread.mbox");
    await expect(collect(readSource(mbox, { since: "HEAD" }))).rejects.toBeInstanceOf(SourceError);
  });
});
