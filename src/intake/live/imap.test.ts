import { ImapFlow } from "imapflow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../../test/corpus.js";
import { startPrivateDovecot, type PrivateDovecot } from "../../../test/dovecot-server.js";
import { captureLog } from "../../../test/log-capture.js";
import { ImapError } from "../../io/imap.js";
import { DEFAULT_MAIL_LIMITS } from "../../mail/limits.js";
import { SourceError } from "../errors.js";
import { readMbox } from "../mbox.js";
import type { RawMail } from "../types.js";
import { ImapSource, ImapSourceError, type ImapSourceOptions } from "./imap.js";
import type { LiveMail } from "./types.js";

const PASSWORD = "pw-Zq8!kvmarm-reader-secret";

let dovecot: PrivateDovecot;
/** The Shadow Call Stack v7 thread, as the list delivered it. */
let thread: RawMail[];
let adminClient: ImapFlow | null = null;
let mailboxes = 0;

/** CRLF line ends, as IMAP serves a message whatever it was stored with. */
const crlf = (raw: Buffer): string => raw.toString("latin1").replace(/\r?\n/g, "\r\n");

beforeAll(async () => {
  thread = [];
  for await (const mail of readMbox(corpusPath("threads", "scs-v7", "scs-v7-thread.mbox"))) {
    thread.push(mail);
  }
  dovecot = await startPrivateDovecot(PASSWORD);
});

/** The test's own IMAP connection, for APPEND and mailbox changes (again after a kick). */
async function admin(): Promise<ImapFlow> {
  if (adminClient?.usable) return adminClient;
  adminClient = new ImapFlow({
    host: dovecot.host,
    port: dovecot.port,
    secure: false,
    doSTARTTLS: false,
    auth: { user: dovecot.user, pass: PASSWORD },
    logger: false,
  });
  await adminClient.connect();
  return adminClient;
}

afterAll(async () => {
  await adminClient?.logout().catch(() => {});
  await dovecot?.stop();
});

/** A fresh mailbox of the test's own. */
async function newMailbox(): Promise<string> {
  const name = `kvmarm-${++mailboxes}`;
  await (await admin()).mailboxCreate(name);
  return name;
}

async function deliver(mailbox: string, mails: RawMail[]): Promise<void> {
  for (const mail of mails) await (await admin()).append(mailbox, mail.raw);
}

function source(mailbox: string, opts: ImapSourceOptions = {}): ImapSource {
  return new ImapSource(
    {
      host: dovecot.host,
      port: dovecot.port,
      secure: false,
      user: dovecot.user,
      password: PASSWORD,
      mailbox,
    },
    { backoffMs: 20, ...opts },
  );
}

async function readAll(
  src: ImapSource,
  from: string | null,
  errors: Error[] = [],
): Promise<LiveMail[]> {
  const out: LiveMail[] = [];
  for await (const item of src.read(from, { onError: (e) => errors.push(e) })) out.push(item);
  return out;
}

const uidOf = (item: LiveMail): number => Number(item.mail.origin.split("#")[1]);

describe("IMAP live source on a real Dovecot", () => {
  it("reads every message once in UID order, then only what was appended after the checkpoint", async () => {
    const mailbox = await newMailbox();
    await deliver(mailbox, thread.slice(0, 20));
    const src = source(mailbox);
    try {
      const first = await readAll(src, null);
      expect(first.map((m) => crlf(m.mail.raw))).toEqual(
        thread.slice(0, 20).map((m) => crlf(m.raw)),
      );
      expect(first.map((m) => m.mail.origin)).toEqual(
        first.map((_, i) => `imap:${mailbox}#${i + 1}`),
      );
      const last = first.at(-1)!.checkpoint;
      expect(JSON.parse(last)).toMatchObject({ lastUid: 20, uidValidity: expect.any(String) });

      expect(await readAll(src, last)).toEqual([]);
      await deliver(mailbox, thread.slice(20));
      const more = await readAll(src, last);
      expect(more.map((m) => crlf(m.mail.raw))).toEqual(thread.slice(20).map((m) => crlf(m.raw)));
      expect(more.map(uidOf)).toEqual(thread.slice(20).map((_, i) => 21 + i));
    } finally {
      await src.close();
    }
  });

  it("resumes from a stored checkpoint after a restart with no gap and no duplicate", async () => {
    const mailbox = await newMailbox();
    await deliver(mailbox, thread);
    const before: LiveMail[] = [];
    const first = source(mailbox);
    for await (const item of first.read(null)) {
      before.push(item);
      if (before.length === 12) break;
    }
    await first.close();
    const stored = before.at(-1)!.checkpoint;

    const second = source(mailbox);
    const after = await readAll(second, stored);
    await second.close();
    const uids = [...before, ...after].map(uidOf);
    expect(uids).toEqual(thread.map((_, i) => i + 1));
  });

  it("reconnects when the server drops the connection and goes on where it was", async () => {
    const mailbox = await newMailbox();
    await deliver(mailbox, thread.slice(0, 10));
    const { log, lines } = captureLog("warn");
    const src = source(mailbox, { log });
    const got: LiveMail[] = [];
    try {
      for await (const item of src.read(null)) {
        got.push(item);
        if (got.length === 3) await dovecot.kick();
      }
    } finally {
      await src.close();
    }
    expect(got.map(uidOf)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(lines().map((l) => l.msg)).toContain("imap connection dropped");
  });

  it("resolves waitForNew when a message is appended during IDLE, and on abort", async () => {
    const mailbox = await newMailbox();
    await deliver(mailbox, thread.slice(0, 2));
    const src = source(mailbox);
    try {
      const first = await readAll(src, null);
      const controller = new AbortController();
      let woke = false;
      const waiting = src.waitForNew(controller.signal).then(() => (woke = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(woke).toBe(false);
      await deliver(mailbox, thread.slice(2, 3));
      const timeout = setTimeout(() => controller.abort(), 5000);
      await waiting;
      clearTimeout(timeout);
      expect(controller.signal.aborted).toBe(false);
      const next = await readAll(src, first.at(-1)!.checkpoint);
      expect(next.map(uidOf)).toEqual([3]);

      const aborting = new AbortController();
      const idle = src.waitForNew(aborting.signal);
      setTimeout(() => aborting.abort(), 100);
      await idle;
      expect(aborting.signal.aborted).toBe(true);
    } finally {
      await src.close();
    }
  });

  it("wakes at once for a message announced while the listed ones were read", async () => {
    const mailbox = await newMailbox();
    await deliver(mailbox, thread.slice(0, 2));
    const src = source(mailbox);
    try {
      const reading = src.read(null)[Symbol.asyncIterator]();
      const first = await reading.next();
      expect(first.done).toBe(false);
      // Listed: 2. The third arrives now; the server tells of it while the second is fetched.
      await deliver(mailbox, thread.slice(2, 3));
      const second = await reading.next();
      expect((await reading.next()).done).toBe(true);
      const controller = new AbortController();
      const timeout = setTimeout(() => controller.abort(), 5000);
      await src.waitForNew(controller.signal);
      clearTimeout(timeout);
      expect(controller.signal.aborted).toBe(false);
      const next = await readAll(src, (second.value as LiveMail).checkpoint);
      expect(next.map(uidOf)).toEqual([3]);
    } finally {
      await src.close();
    }
  });

  it("after a UIDVALIDITY change yields only the messages not yielded before, and says so", async () => {
    const mailbox = await newMailbox();
    await deliver(mailbox, thread.slice(0, 15));
    const src = source(mailbox);
    try {
      const first = await readAll(src, null);
      const checkpoint = first.at(-1)!.checkpoint;
      // The mailbox recreated: same messages under new UIDs, and the rest of the thread.
      await (await admin()).mailboxDelete(mailbox);
      await (await admin()).mailboxCreate(mailbox);
      await deliver(mailbox, thread);
      await src.close();

      const errors: Error[] = [];
      const again = await readAll(src, checkpoint, errors);
      expect(again.map((m) => crlf(m.mail.raw))).toEqual(thread.slice(15).map((m) => crlf(m.raw)));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(ImapSourceError);
      expect((errors[0] as ImapSourceError).code).toBe("uidvalidity-changed");
      expect(JSON.parse(again.at(-1)!.checkpoint).uidValidity).not.toBe(
        JSON.parse(checkpoint).uidValidity,
      );
    } finally {
      await src.close();
    }
  });

  it("names a message over maxMessageBytes by its RFC822.SIZE and reads on", async () => {
    const mailbox = await newMailbox();
    const mails = thread.slice(0, 8);
    await deliver(mailbox, mails);
    const sizes = mails.map((m) => Buffer.byteLength(crlf(m.raw), "latin1"));
    const largest = sizes.indexOf(Math.max(...sizes));
    const limits = { ...DEFAULT_MAIL_LIMITS, maxMessageBytes: Math.max(...sizes) - 1 };
    const src = source(mailbox, { limits });
    const errors: Error[] = [];
    try {
      const got = await readAll(src, null, errors);
      expect(got.map(uidOf)).toEqual(mails.map((_, i) => i + 1).filter((u) => u !== largest + 1));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(SourceError);
      expect(errors[0]).toMatchObject({
        code: "over-limit",
        origin: `imap:${mailbox}#${largest + 1}`,
      });
      expect(errors[0]!.message).toContain("HYPWATCH_MAX_MESSAGE_BYTES");
    } finally {
      await src.close();
    }
  });

  it("never prints the password: wrong credentials, a server that is gone, the log lines", async () => {
    const mailbox = await newMailbox();
    const { log, raw } = captureLog("debug");
    const wrong = new ImapSource(
      {
        host: dovecot.host,
        port: dovecot.port,
        secure: false,
        user: dovecot.user,
        password: `${PASSWORD}-old`,
        mailbox,
      },
      { log, backoffMs: 10 },
    );
    const authError = await readAll(wrong, null).catch((e: unknown) => e);
    expect(authError).toBeInstanceOf(ImapError);
    expect((authError as ImapError).code).toBe("auth-failed");

    const gone = source(mailbox, { log, maxAttempts: 3, backoffMs: 10 });
    // No server listens on port 1 of loopback.
    const unreachable = new ImapSource(
      {
        host: "127.0.0.1",
        port: 1,
        secure: false,
        user: dovecot.user,
        password: PASSWORD,
        mailbox,
      },
      { log, maxAttempts: 3, backoffMs: 10 },
    );
    const started = Date.now();
    const gaveUp = await readAll(unreachable, null).catch((e: unknown) => e);
    expect(gaveUp).toBeInstanceOf(ImapSourceError);
    expect((gaveUp as ImapSourceError).code).toBe("gave-up");
    expect((gaveUp as ImapSourceError).kind).toBe("upstream");
    expect(Date.now() - started).toBeLessThan(5000);
    expect(raw.filter((l) => l.includes("imap connection failed"))).toHaveLength(3);

    const bad = await readAll(gone, "{not json").catch((e: unknown) => e);
    expect((bad as ImapSourceError).code).toBe("bad-checkpoint");

    for (const error of [authError, gaveUp, bad] as Error[]) {
      expect(error.message).not.toContain(PASSWORD);
      expect(String(error.stack)).not.toContain(PASSWORD);
      expect(String((error.cause as Error | undefined)?.message)).not.toContain(PASSWORD);
    }
    expect(raw.join("\n")).not.toContain(PASSWORD);
    expect(raw.join("\n")).not.toContain(encodeURIComponent(PASSWORD));
    await Promise.all([wrong.close(), gone.close(), unreachable.close()]);
  });
});
