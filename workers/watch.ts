import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { LiveSource } from "../src/intake/live/types.js";
import { pause } from "../src/intake/live/common.js";
import { errorMessage, type Logger } from "../src/log.js";
import type { BotIdentity } from "../src/mail/index.js";
import { handleCommands } from "../src/pipeline/commands.js";
import { ingestStream } from "../src/pipeline/ingest.js";
import {
  updateRevisions,
  type CheckScheduler,
  type RevisionPolicy,
} from "../src/pipeline/revisions.js";
import type { StateStore } from "../src/state/store.js";

/** A lease on a source lasts this long unless renewed; its holder renews it 3 times as often. */
const LEASE_MS = 30_000;
/**
 * Messages stored per Redis round trip, and series brought up to date after each such
 * batch (never more than a window's worth, or a series could pass through it unseen).
 */
const BATCH = 1000;

export interface WatchDeps {
  store: StateStore;
  scheduler: CheckScheduler;
  log: Logger;
  /** Called with the number of new messages of a list as they are stored (metrics). */
  onIngested?: (list: string, count: number) => void;
  /** Who the bot is, for `#hypwatch` commands in replies; none: commands are not read. */
  bot?: BotIdentity;
}

export interface WatchedSource {
  list: string;
  source: LiveSource;
  policy: RevisionPolicy;
}

/** Where a source's checkpoint and lease are kept: per list, per source. */
export const sourceKey = (w: Pick<WatchedSource, "list" | "source">): string =>
  `${w.list}/${w.source.id}`;

/**
 * Watch one source of a list until `signal` aborts: while this process holds the source's
 * lease (one reader per source among every worker machine), read every message after the
 * stored checkpoint, store it, advance the checkpoint, and bring the list's revisions up to
 * date; then wait for new mail. A message that cannot be read or parsed is logged by name
 * and skipped; any other failure (Redis, the network) is logged and retried from the stored
 * checkpoint with backoff. The checkpoint is written after each batch of messages is
 * stored, so a crash rereads at most one batch, which the store keeps once.
 */
export async function watchSource(
  deps: WatchDeps,
  watched: WatchedSource,
  signal: AbortSignal,
): Promise<void> {
  const key = sourceKey(watched);
  const holder = `${hostname()}:${process.pid}:${randomUUID()}`;
  const log = deps.log.child({ list: watched.list, source: watched.source.id });
  let failures = 0;
  while (!signal.aborted) {
    try {
      if (!(await deps.store.holdLease(key, holder, LEASE_MS))) {
        await pause(LEASE_MS / 3, signal);
        continue;
      }
      await whileLeased(deps.store, { key, holder, log }, signal, async (leased) => {
        // The first read under a lease also brings revisions up to date: the last holder may
        // have stored mail and died before it assembled it.
        let first = true;
        while (!leased.aborted) {
          await readOnce(deps, watched, key, log, leased, first);
          first = false;
          failures = 0;
          if (!leased.aborted) await watched.source.waitForNew(leased);
        }
      });
    } catch (error) {
      if (signal.aborted) break;
      failures++;
      const retryMs = Math.min(1000 * 2 ** Math.min(failures, 6), 60_000);
      log.warn({ err: error, retryMs }, "source read failed; retrying from its checkpoint");
      await pause(retryMs * (0.8 + Math.random() * 0.4), signal);
    }
  }
  // Neither may hold up a shutdown: with Redis down the lease just expires.
  await Promise.race([deps.store.releaseLease(key, holder).catch(() => undefined), pause(2000)]);
  await Promise.race([watched.source.close().catch(() => undefined), pause(2000)]);
}

interface Lease {
  key: string;
  holder: string;
  log: Logger;
}

/**
 * Run `work` while this process holds the lease, renewing it; losing it (this process
 * stalled past it, Redis lost it) aborts the signal `work` is given: another process may
 * be reading the same source by now.
 */
async function whileLeased(
  store: StateStore,
  lease: Lease,
  outer: AbortSignal,
  work: (signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  const stopWork = () => stop.abort();
  outer.addEventListener("abort", stopWork, { once: true });
  const renew = setInterval(() => {
    store.holdLease(lease.key, lease.holder, LEASE_MS).then(
      (held) => {
        if (held) return;
        lease.log.warn("lease on the source lost; another process reads it now");
        stop.abort();
      },
      () => undefined,
    );
  }, LEASE_MS / 3);
  try {
    await work(stop.signal);
  } finally {
    clearInterval(renew);
    outer.removeEventListener("abort", stopWork);
  }
}

/** Read what the source has after its checkpoint, store it in batches, update revisions. */
async function readOnce(
  deps: WatchDeps,
  watched: WatchedSource,
  key: string,
  log: Logger,
  signal: AbortSignal,
  settle = false,
): Promise<void> {
  const { store } = deps;
  const update = async () => {
    const result = await updateRevisions(
      {
        store,
        scheduler: deps.scheduler,
        onLimit: (error) => log.warn({ err: error }, "message kept out of its thread"),
      },
      watched.policy,
    );
    if (result.changed > 0) log.info(result, "series updated");
  };
  const from = await store.checkpoint(key);
  const arriving = watched.source.read(from, {
    signal,
    onError: (error) => log.warn({ err: error }, "message skipped"),
  });
  const batches = ingestStream({ store, limits: watched.policy.limits }, watched.list, arriving, {
    batchSize: Math.min(BATCH, watched.policy.windowMessages),
    onError: (error) => log.warn({ err: error }, "message skipped"),
  });
  // While a source catches up, assembling the window after every batch would assemble each
  // message many times: the window's actionable part (all but its margin) holds
  // `windowMessages - marginMessages` of the newest mails, so updating at least that often
  // still acts on every mail. A batch with commands, and the end of what the source has,
  // update at once.
  const every = Math.max(1, watched.policy.windowMessages - watched.policy.marginMessages - BATCH);
  let pending = 0;
  for await (const batch of batches) {
    if (batch.checkpoint !== undefined) await store.setCheckpoint(key, batch.checkpoint);
    if (batch.fresh === 0) continue;
    deps.onIngested?.(watched.list, batch.fresh);
    log.debug({ read: batch.read, fresh: batch.fresh }, "messages stored");
    pending += batch.fresh;
    const caughtUp = batch.read < BATCH;
    if (!caughtUp && pending < every && batch.commands.length === 0) continue;
    pending = 0;
    await update();
    if (deps.bot && batch.commands.length > 0) {
      const outcomes = await handleCommands(
        { store, scheduler: deps.scheduler, bot: deps.bot },
        watched.policy,
        batch.commands,
      );
      for (const o of outcomes)
        log.info({ messageId: o.messageId, status: o.status, reason: o.reason }, "command mail");
    }
  }
  if (pending > 0 || settle) await update();
}

/** Watch several sources until `signal` aborts; resolves when every watcher has stopped. */
export async function watchSources(
  deps: WatchDeps,
  sources: readonly WatchedSource[],
  signal: AbortSignal,
): Promise<void> {
  await Promise.all(
    sources.map((w) =>
      watchSource(deps, w, signal).catch((error: unknown) =>
        deps.log.error({ source: w.source.id, err: errorMessage(error) }, "watcher stopped"),
      ),
    ),
  );
}
