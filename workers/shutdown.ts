import type { Service } from "./serve.js";

export interface ShutdownOptions {
  deadlineMs: number;
  /** `process.exit` in the service; injectable so the sequence can be tested in process. */
  exit: (code: number) => void;
  signals?: NodeJS.Signals[];
}

/**
 * Running jobs get this share of the deadline to finish; the rest kills and hands back
 * what still runs (2 s at most per job) and closes the connections: 24 s and 6 s of 30 s.
 */
const FINISH_SHARE = 0.8;

/**
 * On SIGTERM or SIGINT: take no new job, let running jobs finish, hand back those that do
 * not finish in time, and exit by the deadline whatever Redis does. A second signal hands
 * running jobs back at once.
 */
export function stopOnSignals(service: Service, opts: ShutdownOptions): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      service.log.warn({ signal }, "second signal: handing running jobs back");
      service.handBackRunningJobs();
      return;
    }
    stopping = true;
    stopService(service, signal, opts);
  };
  for (const signal of opts.signals ?? ["SIGTERM", "SIGINT"]) process.on(signal, onSignal);
}

function stopService(service: Service, signal: NodeJS.Signals, opts: ShutdownOptions): void {
  const started = Date.now();
  service.log.info({ signal, deadlineMs: opts.deadlineMs }, "stopping: no new jobs");
  setTimeout(() => {
    service.log.info("handing back jobs still running");
    service.handBackRunningJobs();
  }, opts.deadlineMs * FINISH_SHARE);
  setTimeout(() => {
    service.log.error({ deadlineMs: opts.deadlineMs }, "shutdown deadline passed: exiting");
    opts.exit(1);
  }, opts.deadlineMs);
  service.close().then(
    () => {
      service.log.info({ durationMs: Date.now() - started }, "stopped");
      opts.exit(0);
    },
    (error: unknown) => {
      service.log.error({ err: error, durationMs: Date.now() - started }, "stop failed");
      opts.exit(1);
    },
  );
}
