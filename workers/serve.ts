import { Worker } from "bullmq";
import type { Config } from "../src/config.js";
import { checkProcessor, CHECK_QUEUE } from "./check.js";
import { redisConnection } from "./connection.js";
import { scanProcessor, SCAN_QUEUE } from "./scan.js";

export interface ServeOptions {
  /** Queue name prefix; tests use a fresh one each. */
  prefix?: string;
  /** Concurrent checks on this machine (each holds a worktree slot and runs make -j2). */
  checkConcurrency?: number;
}

/** Start this machine's workers on the shared Redis. Close them on SIGTERM. */
export function startWorkers(config: Config, opts: ServeOptions = {}): Worker[] {
  const connection = redisConnection(config.redisUrl);
  const prefix = opts.prefix ? { prefix: opts.prefix } : {};
  return [
    new Worker(SCAN_QUEUE, scanProcessor(config), { connection, concurrency: 1, ...prefix }),
    new Worker(CHECK_QUEUE, checkProcessor(config), {
      connection,
      concurrency: opts.checkConcurrency ?? 1,
      // A check builds a kernel: minutes, not seconds.
      lockDuration: 10 * 60_000,
      ...prefix,
    }),
  ];
}
