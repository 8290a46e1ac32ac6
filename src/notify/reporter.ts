import type { CommandAck, ReportContext } from "../shapes/report.js";

/**
 * One way a verdict reaches people: replies on the list, a GitHub issue, ... The report
 * worker (workers/report.ts) calls every reporter once per outbox entry, and again when a
 * job is retried or run after a crash: a reporter records each side effect in the store's
 * ledger under a key made from `idempotencyKey` and its own name (`reply:verdict:<check>`)
 * before it counts as done, and does nothing that the ledger says was done.
 */
export interface Reporter {
  /** Short and stable: it is part of every ledger key the reporter writes. */
  readonly name: string;
  report(context: ReportContext, idempotencyKey: string): Promise<void>;
  /** Answer a command mail that queued no check (`#hypwatch ignore ...`), once. */
  acknowledge?(ack: CommandAck, idempotencyKey: string): Promise<void>;
  close?(): Promise<void>;
}
