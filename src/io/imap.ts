import { ImapFlow } from "imapflow";
import { HypwatchError, type ErrorKind } from "../errors.js";
import { redact, registerSecrets } from "../log.js";

/** Where and as whom to log in, and the mailbox to select. */
export interface ImapServer {
  host: string;
  port: number;
  /** TLS from the first byte (993); false: STARTTLS when offered, else cleartext. */
  secure: boolean;
  user: string;
  password: string;
  mailbox: string;
}

/** Why an IMAP step failed; the message never carries the password (it passes `redact`). */
export type ImapErrorCode = "connect-failed" | "auth-failed" | "mailbox-failed" | "dropped";

export class ImapError extends HypwatchError {
  readonly kind: ErrorKind;
  constructor(
    readonly code: ImapErrorCode,
    readonly server: string,
    reason: string,
  ) {
    super(redact(`${server}: ${reason}`));
    // Wrong credentials or a missing mailbox fail the same way again; the rest is the server's.
    this.kind = code === "auth-failed" || code === "mailbox-failed" ? "permanent" : "upstream";
  }
}

/** A message in the selected mailbox as FETCH (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]) sees it. */
export interface ImapEntry {
  uid: number;
  /** RFC822.SIZE: the bytes of the message, known before its body is fetched. */
  size: number;
  /** The Message-ID header's value, trimmed; null when the message has none. */
  messageId: string | null;
}

/** One logged-in connection with its mailbox selected. */
export interface ImapSession {
  readonly uidValidity: bigint;
  /** Messages in the mailbox, as the server last said (EXISTS). */
  readonly exists: number;
  /** True once the connection is gone; a closed session is not reused. */
  readonly closed: boolean;
  /** The messages with a UID above `afterUid`, in UID order. */
  list(afterUid: number): Promise<ImapEntry[]>;
  /** The raw message, or null when it is gone (expunged since it was listed). */
  source(uid: number): Promise<Buffer | null>;
  /** IDLE until the server announces a new message count, the connection closes, or abort. */
  idle(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** `user@host:port/mailbox`, for errors and logs. */
export function imapServerName(server: ImapServer): string {
  return `${server.user}@${server.host}:${server.port}/${server.mailbox}`;
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const response = (error as { responseText?: unknown }).responseText;
  return typeof response === "string" && response
    ? `${error.message} (${response})`
    : error.message;
}

/** The Message-ID from a `Message-ID:` header block (folded or not). */
export function headerMessageId(headers: Buffer | undefined): string | null {
  if (!headers) return null;
  const unfolded = headers.toString("latin1").replace(/\r?\n[ \t]+/g, " ");
  const value = /^message-id:[ \t]*(.*)$/im.exec(unfolded)?.[1]?.trim();
  return value ? value : null;
}

/**
 * Log in and select `server.mailbox`. Every failure is an ImapError; the password is
 * registered as a secret first, so no log line or error can print it.
 */
export async function openImapSession(
  server: ImapServer,
  opts: { timeoutMs?: number } = {},
): Promise<ImapSession> {
  registerSecrets([server.password]);
  const name = imapServerName(server);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const client = new ImapFlow({
    host: server.host,
    port: server.port,
    secure: server.secure,
    auth: { user: server.user, pass: server.password },
    logger: false,
    // IDLE only when asked for: a read issues its commands back to back.
    disableAutoIdle: true,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: 5 * 60_000,
  });
  let closed = false;
  client.on("close", () => {
    closed = true;
  });
  // imapflow emits socket errors; they also reject the pending command, which is what we report.
  client.on("error", () => {});

  try {
    await client.connect();
  } catch (error) {
    closed = true;
    client.close();
    const auth = (error as { authenticationFailed?: unknown }).authenticationFailed === true;
    throw new ImapError(auth ? "auth-failed" : "connect-failed", name, messageOf(error));
  }
  let selected;
  try {
    selected = await client.mailboxOpen(server.mailbox, { readOnly: true });
  } catch (error) {
    client.close();
    const code = closed ? "dropped" : "mailbox-failed";
    throw new ImapError(code, name, `cannot select the mailbox: ${messageOf(error)}`);
  }

  /**
   * How many messages the mailbox had when the last `list` asked for them (less any expunged
   * since): a message the server announces during the reads that follow a list was not
   * listed, and must wake the next `idle` at once rather than wait for mail after it.
   */
  let listed = 0;
  client.on("expunge", () => {
    listed = Math.max(0, listed - 1);
  });

  const wrap = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      throw new ImapError("dropped", name, `${what}: ${messageOf(error)}`);
    }
  };

  return {
    uidValidity: selected.uidValidity,
    get exists() {
      return client.mailbox ? client.mailbox.exists : 0;
    },
    get closed() {
      return closed;
    },
    list: (afterUid) =>
      wrap("listing messages", async () => {
        // A server tells of new mail between commands; NOOP lets it before the FETCH below.
        await client.noop();
        listed = client.mailbox ? client.mailbox.exists : 0;
        const entries: ImapEntry[] = [];
        // `N:*` also returns the highest message when N is above every UID; filtered below.
        const query = { uid: true, size: true, headers: ["message-id"] };
        for await (const msg of client.fetch(`${afterUid + 1}:*`, query, { uid: true })) {
          if (msg.uid <= afterUid) continue;
          const messageId = headerMessageId(msg.headers);
          entries.push({ uid: msg.uid, size: msg.size ?? 0, messageId });
        }
        return entries.sort((a, b) => a.uid - b.uid);
      }),
    source: (uid) =>
      wrap(`fetching UID ${uid}`, async () => {
        const msg = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
        return msg && msg.uid === uid && msg.source ? msg.source : null;
      }),
    idle: async (signal) => {
      if (closed || signal?.aborted) return;
      // Announced while the last listed messages were read, and not listed: read again now.
      if ((client.mailbox ? client.mailbox.exists : 0) > listed) return;
      const known = listed;
      await new Promise<void>((resolve) => {
        const done = () => {
          client.off("exists", onExists);
          client.off("close", done);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const onExists = (event: { count: number }) => {
          if (event.count > known) done();
        };
        client.on("exists", onExists);
        client.on("close", done);
        signal?.addEventListener("abort", done, { once: true });
        // Runs until the next command breaks it; its end is not what we wait for.
        client.idle().catch(done);
      });
    },
    close: async () => {
      if (closed) return;
      try {
        await client.logout();
      } catch {
        client.close();
      }
      closed = true;
    },
  };
}
