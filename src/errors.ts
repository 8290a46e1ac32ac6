/**
 * What retrying a failed step can do, the one question a worker asks of an error:
 * - `permanent`: retrying cannot help, the same input fails the same way (bad or hostile mail,
 *   a missing file or commit, a host that cannot sandbox builds). The job ends at once, so a
 *   bad input does not hold a worker for every attempt.
 * - `transient`: something on this machine was in the way (a lock, a busy resource, a killed
 *   process). Retrying soon can succeed; errors not raised by hypwatch are taken as this,
 *   since nothing says the input is at fault.
 * - `upstream`: a remote service or the network failed (a clone, later SMTP and GitHub).
 *   Retried with backoff, so a service that is down is not hammered while it recovers.
 */
export type ErrorKind = "permanent" | "transient" | "upstream";

/** The base of every error hypwatch raises: its class name as `name`, and its kind. */
export abstract class HypwatchError extends Error {
  abstract readonly kind: ErrorKind;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The kind of anything thrown: a HypwatchError's own, else `transient`. */
export function errorKind(error: unknown): ErrorKind {
  return error instanceof HypwatchError ? error.kind : "transient";
}
