import type { ConnectionOptions, Queue, Worker } from "bullmq";
import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "../src/log.js";

/**
 * Stopping a running job from any process. BullMQ's `worker.cancelJob` aborts a job only in
 * the process running it, so the request goes out on a Redis channel every worker process
 * listens to; the one running the job aborts it, the others have nothing to stop.
 */

/** What a stop request says: the job, and why (handed to the queue's `stopped`). */
export interface StopRequest {
  jobId: string;
  reason: string;
}

/** The channel a queue's stop requests go out on, beside its keys. */
export const stopChannel = (qualifiedName: string): string => `${qualifiedName}:stop`;

/**
 * Ask whichever worker runs `jobId` to stop it. A worker not listening at that moment (its
 * connection down) does not hear it: the job then ends as it would have, and what it
 * leaves is judged by the store (a superseded check stores `superseded`).
 */
export async function requestStop(
  publisher: Redis,
  queue: Pick<Queue, "qualifiedName">,
  request: StopRequest,
): Promise<void> {
  await publisher.publish(stopChannel(queue.qualifiedName), JSON.stringify(request));
}

export interface StopListener {
  /** Resolves once the channels are subscribed. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** Stop, in this process, the running jobs other processes ask to stop. */
export function listenForStops(opts: {
  connection: ConnectionOptions;
  workers: readonly Worker[];
  log: Logger;
}): StopListener {
  const subscriber = new Redis({
    ...(opts.connection as RedisOptions),
    connectionName: "stop-requests",
  });
  // Outages are the Redis watcher's to report; ioredis subscribes again on reconnect.
  subscriber.on("error", () => undefined);
  const byChannel = new Map(opts.workers.map((w) => [stopChannel(w.qualifiedName), w]));
  subscriber.on("message", (channel: string, message: string) => {
    const worker = byChannel.get(channel);
    const request = parseRequest(message);
    if (!worker || !request) return;
    if (worker.cancelJob(request.jobId, request.reason))
      opts.log.info({ queue: worker.name, jobId: request.jobId }, "job stop requested");
  });
  const ready = subscriber.subscribe(...byChannel.keys()).then(() => undefined);
  // Whoever waits for `ready` hears a refusal (a wrong password); nobody waiting is no crash.
  ready.catch(() => undefined);
  return {
    ready,
    async close() {
      await ready.catch(() => undefined);
      subscriber.disconnect();
    },
  };
}

function parseRequest(message: string): StopRequest | null {
  try {
    const parsed = JSON.parse(message) as Partial<StopRequest>;
    return typeof parsed.jobId === "string" && typeof parsed.reason === "string"
      ? { jobId: parsed.jobId, reason: parsed.reason }
      : null;
  } catch {
    return null;
  }
}
