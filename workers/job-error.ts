import { UnrecoverableError } from "bullmq";
import { errorKind, HypwatchError, type ErrorKind } from "../src/errors.js";
import type { ChildError } from "../src/io/child.js";

/** An error a job's process threw, as the worker sees it: class name, message, stack, kind. */
export class JobProcessError extends HypwatchError {
  readonly kind: ErrorKind;

  constructor(error: ChildError) {
    super(error.message);
    this.name = error.name;
    // A processor may throw BullMQ's own UnrecoverableError, which means the same as permanent.
    this.kind = error.name === "UnrecoverableError" ? "permanent" : error.kind;
    this.stack = error.stack ?? this.stack;
  }
}

/** A job ran over its queue's time limit and was stopped. */
export class JobTimeLimitError extends HypwatchError {
  // Another attempt would spend the same time again on the same input.
  readonly kind = "permanent";

  constructor(
    readonly jobId: string | undefined,
    readonly queue: string,
    readonly timeLimitMs: number,
  ) {
    super(
      `job ${jobId} on ${queue} ran over its time limit of ${timeLimitMs / 1000} s and was stopped`,
    );
  }
}

/** A job's process exited without an answer: out of memory, killed from outside, a crash. */
export class JobProcessDiedError extends HypwatchError {
  // A killed process: another attempt, maybe on another machine, can finish.
  readonly kind = "transient";

  constructor(
    readonly jobId: string | undefined,
    readonly queue: string,
    readonly how: string,
  ) {
    super(`job ${jobId} on ${queue}: its process died (${how})`);
  }
}

/**
 * The error BullMQ records for a failed job, the one place error kinds meet retries: a
 * permanent error becomes UnrecoverableError, so BullMQ fails the job without its remaining
 * attempts; a transient or upstream error is thrown as it is and retried as the job's
 * `attempts` and `backoff` say (upstream ones want a backoff: the remote end needs time).
 */
export function toJobFailure(error: Error): Error {
  if (errorKind(error) !== "permanent") return error;
  const unrecoverable = new UnrecoverableError(error.message);
  unrecoverable.stack = error.stack ?? unrecoverable.stack;
  return unrecoverable;
}
