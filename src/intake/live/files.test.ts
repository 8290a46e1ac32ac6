import {
  appendFile,
  mkdir,
  mkdtemp,
  rename,
  rm,
  truncate,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../../test/corpus.js";
import { DEFAULT_MAIL_LIMITS } from "../../mail/limits.js";
import { SourceError } from "../errors.js";
import { mboxrdEntry, readMbox } from "../mbox.js";
import type { RawMail } from "../types.js";
import {
  LocalSourceError,
  MaildirSource,
  MboxSource,
  createLocalSource,
  maildirKey,
  mboxMessageStarts,
} from "./files.js";
import type { LiveMail, LiveSource } from "./types.js";
import { readAll as readSource } from "../../../test/live-source.js";

/** `readSource`, and the checkpoint to resume from afterwards. */
async function readAll(source: LiveSource, from: string | null) {
  const read = await readSource(source, from);
  return { ...read, last: read.mails.at(-1)?.checkpoint ?? from };
}

/** The Shadow Call Stack v7 thread, as the list delivered it. */
let thread: RawMail[];
let tmp: string;
let dirs = 0;

beforeAll(async () => {
  thread = [];
  for await (const mail of readMbox(corpusPath("threads", "scs-v7", "scs-v7-thread.mbox"))) {
    thread.push(mail);
  }
  tmp = await mkdtemp(path.join(tmpdir(), "hypwatch-live-files-"));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function fresh(): Promise<string> {
  const dir = path.join(tmp, `t${++dirs}`);
  await mkdir(dir);
  return dir;
}

const raws = (mails: LiveMail[]): string[] => mails.map((m) => m.mail.raw.toString("latin1"));
const texts = (mails: RawMail[]): string[] => mails.map((m) => m.raw.toString("latin1"));

describe("Maildir live source", () => {
  const T0 = 1_700_000_000;

  async function newMaildir(): Promise<string> {
    const dir = path.join(await fresh(), "Maildir");
    for (const sub of ["cur", "new", "tmp"]) await mkdir(path.join(dir, sub), { recursive: true });
    return dir;
  }

  /** Delivers as an MDA does: written in tmp/, then renamed into new/. */
  async function deliver(dir: string, mail: RawMail, time: number, n: number): Promise<string> {
    const name = `${time}.M${n}P4242.lists.example`;
    await writeFile(path.join(dir, "tmp", name), mail.raw);
    await rename(path.join(dir, "tmp", name), path.join(dir, "new", name));
    return name;
  }

  it("yields every message once, in delivery-time order, then only new deliveries", async () => {
    const dir = await newMaildir();
    // Delivered out of name order: the time in the name decides, not the sequence number.
    for (let i = 0; i < 20; i++) await deliver(dir, thread[i]!, T0 + i, 100 - i);
    const source = new MaildirSource(dir);
    const first = await readAll(source, null);
    expect(first.errors).toEqual([]);
    expect(raws(first.mails)).toEqual(texts(thread.slice(0, 20)));

    expect((await readAll(source, first.last)).mails).toEqual([]);

    for (let i = 20; i < thread.length; i++) await deliver(dir, thread[i]!, T0 + i, 100 - i);
    const second = await readAll(source, first.last);
    expect(raws(second.mails)).toEqual(texts(thread.slice(20)));
    // Any checkpoint resumes right after its own message.
    const middle = await readAll(source, first.mails[9]!.checkpoint);
    expect(raws(middle.mails)).toEqual(texts(thread.slice(10)));
  });

  it("does not yield a message again when a client moves it to cur/ and flags it", async () => {
    const dir = await newMaildir();
    const names: string[] = [];
    for (let i = 0; i < 10; i++) names.push(await deliver(dir, thread[i]!, T0 + i, i));
    const source = new MaildirSource(dir);
    const first = await readAll(source, null);
    expect(first.mails).toHaveLength(10);
    for (const [i, name] of names.entries()) {
      const flags = i % 2 === 0 ? ":2,S" : ":2,RS";
      await rename(path.join(dir, "new", name), path.join(dir, "cur", name + flags));
    }
    // Flags changed again by another client.
    await rename(
      path.join(dir, "cur", `${names[0]}:2,S`),
      path.join(dir, "cur", `${names[0]}:2,FS`),
    );
    expect((await readAll(source, first.last)).mails).toEqual([]);
    await deliver(dir, thread[10]!, T0 + 10, 10);
    const next = await readAll(source, first.last);
    expect(raws(next.mails)).toEqual(texts([thread[10]!]));
    expect(next.mails[0]!.mail.origin).toMatch(/^Maildir\/new\//);
    expect(maildirKey(`${names[0]}:2,FS`)).toBe(names[0]);
  });

  it("reads a late delivery inside the window and takes one older than it as read", async () => {
    const dir = await newMaildir();
    await deliver(dir, thread[0]!, T0 + 7200, 1);
    const source = new MaildirSource(dir, { windowSeconds: 3600 });
    const first = await readAll(source, null);
    await deliver(dir, thread[1]!, T0 + 7200 - 600, 2); // slow delivery, 10 minutes late
    await deliver(dir, thread[2]!, T0, 3); // two hours older than the newest: outside
    const next = await readAll(source, first.last);
    expect(raws(next.mails)).toEqual(texts([thread[1]!]));
  });

  it("keeps the checkpoint bounded by its name limit", async () => {
    const dir = await newMaildir();
    for (let i = 0; i < thread.length; i++) await deliver(dir, thread[i]!, T0 + i, i);
    const source = new MaildirSource(dir, { seenLimit: 5 });
    const first = await readAll(source, null);
    expect(first.mails).toHaveLength(thread.length);
    const state = JSON.parse(first.last!) as { seen: unknown[] };
    expect(state.seen.length).toBeLessThanOrEqual(5);
    expect((await readAll(source, first.last)).mails).toEqual([]);
  });

  it("loses nothing when more messages than the name limit share one second", async () => {
    const dir = await newMaildir();
    for (let i = 0; i < 12; i++) await deliver(dir, thread[i]!, T0, i);
    const source = new MaildirSource(dir, { seenLimit: 5 });
    const first = await readAll(source, null);
    expect(first.mails).toHaveLength(12);
    expect((await readAll(source, first.mails[6]!.checkpoint)).mails).toHaveLength(5);
    expect((await readAll(source, first.last)).mails).toEqual([]);
    await deliver(dir, thread[12]!, T0 + 1, 12);
    expect(raws((await readAll(source, first.last)).mails)).toEqual(texts([thread[12]!]));
  });

  it("names a message over the size limit and goes on", async () => {
    const dir = await newMaildir();
    for (let i = 0; i < 3; i++) await deliver(dir, thread[i]!, T0 + i, i);
    const maxMessageBytes = thread[1]!.raw.length - 1;
    const small = [0, 2].filter((i) => thread[i]!.raw.length <= maxMessageBytes);
    const source = new MaildirSource(dir, { limits: { ...DEFAULT_MAIL_LIMITS, maxMessageBytes } });
    const { mails, errors } = await readAll(source, null);
    expect(raws(mails)).toEqual(texts(small.map((i) => thread[i]!)));
    expect(errors.some((e) => e instanceof SourceError && e.code === "over-limit")).toBe(true);
    const over = errors.find((e) => e instanceof SourceError && e.origin?.includes("M1P"));
    expect(over).toBeInstanceOf(SourceError);
  });

  it("refuses a checkpoint that is not its own", async () => {
    const source = new MaildirSource(await newMaildir());
    await expect(readAll(source, '{"uidValidity":"1"}')).rejects.toBeInstanceOf(LocalSourceError);
  });

  it("waitForNew resolves on a delivery and on abort", async () => {
    const dir = await newMaildir();
    const source = new MaildirSource(dir, { pollMs: 60_000 });
    await readAll(source, null);
    const started = Date.now();
    const waiting = source.waitForNew();
    setTimeout(() => void deliver(dir, thread[0]!, T0, 1), 50);
    await waiting;
    expect(Date.now() - started).toBeLessThan(5000);

    await readAll(source, null);
    const controller = new AbortController();
    const aborted = source.waitForNew(controller.signal);
    setTimeout(() => controller.abort(), 50);
    await aborted;
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("waitForNew resolves at once when mail came after the last read", async () => {
    const dir = await newMaildir();
    const source = new MaildirSource(dir, { pollMs: 10_000 });
    await readAll(source, null);
    await deliver(dir, thread[0]!, T0, 1);
    const started = Date.now();
    await source.waitForNew();
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("is what createLocalSource makes of a Maildir", async () => {
    expect(await createLocalSource(await newMaildir())).toBeInstanceOf(MaildirSource);
  });
});

describe("mbox live source", () => {
  const entries = (mails: RawMail[]): Buffer => Buffer.concat(mails.map((m) => mboxrdEntry(m.raw)));

  async function newMbox(mails: RawMail[]): Promise<string> {
    const file = path.join(await fresh(), "kvmarm.mbox");
    await writeFile(file, entries(mails));
    return file;
  }

  it("yields every message once, then only what was appended", async () => {
    const file = await newMbox(thread.slice(0, 12));
    const source = new MboxSource(file, { settleMs: 0 });
    const first = await readAll(source, null);
    expect(first.errors).toEqual([]);
    expect(raws(first.mails)).toEqual(texts(thread.slice(0, 12)));
    expect((await readAll(source, first.last)).mails).toEqual([]);

    await appendFile(file, entries(thread.slice(12)));
    const second = await readAll(source, first.last);
    expect(second.errors).toEqual([]);
    expect(raws(second.mails)).toEqual(texts(thread.slice(12)));
    const middle = await readAll(source, first.mails[4]!.checkpoint);
    expect(raws(middle.mails)).toEqual(texts(thread.slice(5)));
  });

  it("holds a message being written until it is complete", async () => {
    const file = await newMbox(thread.slice(0, 3));
    const source = new MboxSource(file, { settleMs: 0 });
    const first = await readAll(source, null);
    const entry = mboxrdEntry(thread[3]!.raw);
    const cut = entry.indexOf("\n", Math.floor(entry.length / 2)) - 5; // in the middle of a line
    await appendFile(file, entry.subarray(0, cut));
    expect((await readAll(source, first.last)).mails).toEqual([]);
    await appendFile(file, entry.subarray(cut));
    const next = await readAll(source, first.last);
    expect(raws(next.mails)).toEqual(texts([thread[3]!]));
  });

  it("holds a last message that ends a line until the file settles or a From line follows", async () => {
    const file = await newMbox(thread.slice(0, 2));
    const source = new MboxSource(file, { settleMs: 60_000 });
    const past = new Date(Date.now() - 120_000);
    await utimes(file, past, past);
    const first = await readAll(source, null);
    expect(first.mails).toHaveLength(2);
    await appendFile(file, mboxrdEntry(thread[2]!.raw));
    expect((await readAll(source, first.last)).mails).toEqual([]);
    await utimes(file, past, past);
    expect(raws((await readAll(source, first.last)).mails)).toEqual(texts([thread[2]!]));
    await appendFile(file, entries(thread.slice(3, 5)));
    // Fresh: the message followed by a From line comes, the last one waits.
    expect(raws((await readAll(source, first.last)).mails)).toEqual(texts(thread.slice(2, 4)));
  });

  it("reads a truncated file again from the start without duplicates", async () => {
    const file = await newMbox(thread.slice(0, 10));
    const source = new MboxSource(file, { settleMs: 0 });
    const first = await readAll(source, null);
    await truncate(file, 0);
    await writeFile(file, entries(thread.slice(8, 14)));
    const next = await readAll(source, first.last);
    expect(raws(next.mails)).toEqual(texts(thread.slice(10, 14)));
    expect(next.errors.map((e) => (e as LocalSourceError).code)).toEqual(["mbox-truncated"]);
    // From the new checkpoint the file is read as appended again.
    expect(await readAll(source, next.last)).toMatchObject({ mails: [], errors: [] });
  });

  it("reads a rotated file from the start, losing nothing and repeating nothing", async () => {
    const file = await newMbox(thread.slice(0, 10));
    const source = new MboxSource(file, { settleMs: 0 });
    const first = await readAll(source, null);
    // Mail came to the old file after the last read, then logrotate moved it away.
    await appendFile(file, entries(thread.slice(10, 13)));
    await rename(file, `${file}.1`);
    await writeFile(file, entries(thread.slice(13, 20)));
    const next = await readAll(source, first.last);
    expect(raws(next.mails)).toEqual(texts(thread.slice(10, 20)));
    expect(next.mails[0]!.mail.origin).toMatch(/^kvmarm\.mbox\.1@/);
    expect(next.errors.map((e) => (e as LocalSourceError).code)).toEqual(["mbox-rotated"]);
    // A checkpoint made in the rotated file resumes there, then goes on in the new one.
    const middle = await readAll(source, next.mails[1]!.checkpoint);
    expect(raws(middle.mails)).toEqual(texts(thread.slice(12, 20)));
    expect(await readAll(source, next.last)).toMatchObject({ mails: [], errors: [] });
  });

  it("reads a rotated file that is gone from the start without duplicates", async () => {
    const file = await newMbox(thread.slice(0, 10));
    const source = new MboxSource(file, { settleMs: 0 });
    const first = await readAll(source, null);
    await rm(file);
    await writeFile(file, entries(thread.slice(5, 15)));
    const next = await readAll(source, first.last);
    expect(raws(next.mails)).toEqual(texts(thread.slice(10, 15)));
    // The filesystem may give the new file the old inode number: then it reads as truncated.
    expect(next.errors).toHaveLength(1);
    expect(["mbox-rotated", "mbox-truncated"]).toContain((next.errors[0] as LocalSourceError).code);
  });

  it("reads a file rewritten in place again, skipping what was yielded", async () => {
    const file = await newMbox(thread.slice(0, 10));
    const source = new MboxSource(file, { settleMs: 0 });
    const first = await readAll(source, null);
    // A client deleted the first message; new mail came after.
    await writeFile(file, entries([...thread.slice(1, 10), ...thread.slice(10, 16)]));
    const next = await readAll(source, first.last);
    expect(raws(next.mails)).toEqual(texts(thread.slice(10, 16)));
    expect(next.errors.map((e) => (e as LocalSourceError).code)).toEqual(["mbox-rewritten"]);
  });

  it("names a message over the size limit and goes on", async () => {
    const file = await newMbox(thread.slice(0, 6));
    const sizes = thread.slice(0, 6).map((m) => m.raw.length);
    const maxMessageBytes = Math.max(...sizes) - 1;
    const source = new MboxSource(file, {
      settleMs: 0,
      limits: { ...DEFAULT_MAIL_LIMITS, maxMessageBytes },
    });
    const { mails, errors } = await readAll(source, null);
    const fitting = thread.slice(0, 6).filter((m) => m.raw.length <= maxMessageBytes);
    expect(raws(mails)).toEqual(texts(fitting));
    expect(errors).toHaveLength(6 - fitting.length);
    expect(errors.every((e) => e instanceof SourceError && e.code === "over-limit")).toBe(true);
  });

  it("finds message starts across any chunk boundary", async () => {
    const small = [...thread].sort((a, b) => a.raw.length - b.raw.length).slice(0, 3);
    const file = await newMbox(small);
    const size = entries(small).length;
    const whole = await mboxMessageStarts(file, 0, size);
    expect(whole).toHaveLength(3);
    for (const chunk of [1, 2, 3, 5, 7, 4096]) {
      expect(await mboxMessageStarts(file, 0, size, chunk)).toEqual(whole);
    }
    // From an offset inside the first message: only the later starts.
    expect(await mboxMessageStarts(file, 1, size, 3)).toEqual(whole.slice(1));
  });

  it("refuses a file that is not mbox", async () => {
    const file = path.join(await fresh(), "notes.txt");
    await writeFile(file, thread[0]!.raw);
    const source = new MboxSource(file, { settleMs: 0 });
    await expect(readAll(source, null)).rejects.toMatchObject({ code: "not-mbox" });
    // The first bytes of a first From line are a message being written, not garbage.
    await writeFile(file, "Fro");
    expect(await readAll(source, null)).toMatchObject({ mails: [], errors: [] });
  });

  it("reads nothing, and no error, before the file exists", async () => {
    const file = path.join(await fresh(), "not-yet.mbox");
    const source = new MboxSource(file, { settleMs: 0 });
    expect(await readAll(source, null)).toMatchObject({ mails: [], errors: [] });
    await writeFile(file, entries(thread.slice(0, 1)));
    expect((await readAll(source, null)).mails).toHaveLength(1);
  });

  it("waitForNew resolves on an append and on abort", async () => {
    const file = await newMbox(thread.slice(0, 1));
    const source = new MboxSource(file, { settleMs: 0, pollMs: 60_000 });
    await readAll(source, null);
    const started = Date.now();
    const waiting = source.waitForNew();
    setTimeout(() => void appendFile(file, entries(thread.slice(1, 2))), 50);
    await waiting;
    expect(Date.now() - started).toBeLessThan(5000);

    await readAll(source, null);
    const controller = new AbortController();
    const aborted = source.waitForNew(controller.signal);
    setTimeout(() => controller.abort(), 50);
    await aborted;
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("waitForNew resolves at once when mail came after the last read", async () => {
    const file = await newMbox(thread.slice(0, 1));
    const source = new MboxSource(file, { settleMs: 0, pollMs: 10_000 });
    await readAll(source, null);
    await appendFile(file, entries(thread.slice(1, 2)));
    const started = Date.now();
    await source.waitForNew();
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("is what createLocalSource makes of a file", async () => {
    expect(await createLocalSource(await newMbox(thread.slice(0, 1)))).toBeInstanceOf(MboxSource);
  });
});
