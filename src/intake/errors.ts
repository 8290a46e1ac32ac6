import type { MailLimits } from "../mail/limits.js";
import { HypwatchError } from "../errors.js";

/** Why a whole source could not be read, or (over-limit) why part of it was skipped. */
export type SourceErrorKind =
  | "not-found"
  | "unknown-kind"
  | "not-mbox"
  | "not-git"
  | "unknown-commit"
  | "read-failed"
  | "missing-object"
  | "over-limit";

/**
 * A source (file, directory, git epoch) that cannot be read, or one message in it that
 * cannot be read. `source` names the path; `origin` the message, when the error is about one.
 */
export class SourceError extends HypwatchError {
  // Missing, of no known kind, over a limit or unreadable: the same bytes fail again.
  readonly kind = "permanent";
  constructor(
    readonly code: SourceErrorKind,
    readonly source: string,
    readonly reason: string,
    readonly origin: string | null = null,
  ) {
    super(`${origin ?? source}: ${reason}`);
  }
}

/** Options every reader accepts. */
export interface ReadOptions {
  /**
   * Called for a message that cannot be read (a Maildir file that vanished, an epoch
   * commit without a message). Reading goes on with the next one. Without it, the error
   * is thrown and the read stops.
   */
  onError?: (error: SourceError) => void;
  /** Bounds on message size, line length, inflated bytes and messages; defaults when unset. */
  limits?: MailLimits;
}

export function reportOrThrow(error: SourceError, opts: ReadOptions): void {
  if (!opts.onError) throw error;
  opts.onError(error);
}
