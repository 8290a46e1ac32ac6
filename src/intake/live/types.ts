import type { RawMail } from "../types.js";

/**
 * Where a live source resumes: opaque to everyone but the source that made it (an IMAP
 * UIDVALIDITY and UID, a lore feed's last update and seen threads, a git epoch and commit).
 * The caller stores it durably after it has stored the message it came with.
 */
export type Checkpoint = string;

/** One new message, and the checkpoint that resumes after it. */
export interface LiveMail {
  mail: RawMail;
  checkpoint: Checkpoint;
}

/**
 * A list's mail as it arrives: every source (lore over HTTP, public-inbox git epochs, IMAP,
 * a local Maildir or mbox) is one module implementing this.
 */
export interface LiveSource {
  /** Stable name for logs and for the checkpoint store, e.g. `lore:kvmarm`, `imap:INBOX`. */
  readonly id: string;
  /**
   * Every message after `from` (null: where the source starts, documented per source), in
   * the source's order, each with the checkpoint after it; returns when caught up. A
   * message that cannot be fetched is reported through `onError` naming it, and reading
   * goes on. No message is yielded twice for one checkpoint, none is skipped.
   */
  read(
    from: Checkpoint | null,
    opts?: { signal?: AbortSignal; onError?: (error: Error) => void },
  ): AsyncIterable<LiveMail>;
  /** Resolves when new mail may be there (IMAP IDLE, a poll interval with jitter), or on abort. */
  waitForNew(signal?: AbortSignal): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}
