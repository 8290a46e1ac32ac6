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

/** How a read is stopped, and where the errors of single messages go. */
export interface LiveReadOptions {
  signal?: AbortSignal;
  /** A message or thread that cannot be read, named; without it the error is thrown. */
  onError?: (error: Error) => void;
}

/** `opts.onError`, or a throw when there is none: what a source calls for one bad message. */
export function reporter(opts: LiveReadOptions): (error: Error) => void {
  return (error) => {
    if (!opts.onError) throw error;
    opts.onError(error);
  };
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
  read(from: Checkpoint | null, opts?: LiveReadOptions): AsyncIterable<LiveMail>;
  /** Resolves when new mail may be there (IMAP IDLE, a poll interval with jitter), or on abort. */
  waitForNew(signal?: AbortSignal): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}
