import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { DEFAULT_MAIL_LIMITS, type MailLimits } from "../mail/limits.js";
import type { MailMessage } from "../mail/types.js";
import type { SeriesMail } from "../series/index.js";
import {
  fromWire,
  parseOne,
  type ParseBatchRequest,
  type ParseBatchResponse,
  type ParseOutput,
  type Parsed,
} from "./parseBatch.js";
import type { RawMail } from "./types.js";

export type { Parsed, ParseOutput } from "./parseBatch.js";

type OutputOf<O extends ParseOutput> = O extends "summary" ? SeriesMail : MailMessage;

const DEFAULT_WORKER_HEAP_MB = 128;

/**
 * Mails larger than this are parsed only on worker threads, whose heap is limited: running
 * out of memory there costs one mail, on the calling thread the whole process. The largest
 * kvmarm mail is 386 kB.
 */
const CALLING_THREAD_MAX_BYTES = 1024 * 1024;

export interface ParseOptions<O extends ParseOutput> {
  output: O;
  /**
   * Threads that parse, the calling one included: 1 parses on the calling thread only,
   * 2 adds one worker thread, and so on. Defaults to the number of cores.
   */
  threads?: number;
  /** Worker threads besides the calling one (0: the calling thread only); `threads` wins. */
  workers?: number;
  /** Mails per message to a worker. */
  batchSize?: number;
  /**
   * Old-generation heap limit of each worker, in MB. V8 lets an idle heap grow far beyond
   * what parsing needs; a limit makes it collect sooner and keeps the process small.
   * A mail too big for it stops the pool with an error (the largest kvmarm mail, 386 kB,
   * needs a few MB).
   */
  workerHeapMb?: number;
  /** Batches queued at each worker; enough to keep it busy, few enough to bound memory. */
  queuePerWorker?: number;
  /** Limits every mail is parsed under. */
  limits?: MailLimits;
}

/**
 * Parse mails with `parseMail` on `threads` threads and hand the results on in input
 * order: the same outcomes, in the same order, as parsing one by one. The calling thread
 * parses a batch itself whenever the workers have enough queued, so two threads cost one
 * worker, not two. A mail that cannot be parsed gives `{ ok: false, error }` and parsing
 * goes on.
 */
export async function* parseMails<O extends ParseOutput>(
  mails: AsyncIterable<RawMail> | Iterable<RawMail>,
  opts: ParseOptions<O>,
): AsyncGenerator<Parsed<OutputOf<O>>> {
  const workers =
    opts.threads !== undefined ? opts.threads - 1 : (opts.workers ?? availableParallelism() - 1);
  if (workers <= 0) {
    for await (const mail of mails) {
      yield (await parseOne(mail, opts.output, opts.limits)) as Parsed<OutputOf<O>>;
    }
    return;
  }
  const pool = new ParsePool(workers, opts.workerHeapMb ?? DEFAULT_WORKER_HEAP_MB);
  try {
    yield* pool.parse(mails, opts) as AsyncGenerator<Parsed<OutputOf<O>>>;
  } finally {
    await pool.close();
  }
}

interface PoolWorker {
  worker: Worker;
  pending: number;
  /** Batches sent to it and not answered. */
  inFlight: Set<number>;
  dead: boolean;
}

interface Waiter {
  resolve: (r: ParseBatchResponse) => void;
  reject: (e: Error) => void;
  output: ParseOutput;
  limits: MailLimits;
  /** The mails of the batch, kept to send again one by one should the worker die. */
  mails: RawMail[];
}

/**
 * Worker threads running `parseMail`. Sources written in TypeScript (tests, `tsx`) start
 * the worker through tsx; the built package starts the compiled worker.
 */
class ParsePool {
  private readonly workers: PoolWorker[] = [];
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 0;
  private failure: Error | null = null;
  private closing = false;
  private readonly start: () => Worker;

  constructor(
    size: number,
    private readonly heapMb: number,
  ) {
    const limits = { maxOldGenerationSizeMb: heapMb };
    const fromSource = import.meta.url.endsWith(".ts");
    const file = new URL(`./parseWorker.${fromSource ? "ts" : "js"}`, import.meta.url);
    // Worker threads do not inherit module hooks (Node 20): register tsx in the worker first,
    // through its ESM API (`tsx/esm/api`, import condition).
    const tsx = fromSource
      ? pathToFileURL(
          path.join(
            path.dirname(createRequire(import.meta.url).resolve("tsx/package.json")),
            "dist/esm/api/index.mjs",
          ),
        ).href
      : null;
    this.start = (): Worker =>
      tsx
        ? new Worker(
            `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(file.href)}); });`,
            { eval: true, resourceLimits: limits },
          )
        : new Worker(file, { resourceLimits: limits });
    for (let i = 0; i < size; i++) this.workers.push(this.startEntry());
  }

  private startEntry(): PoolWorker {
    const entry: PoolWorker = {
      worker: this.start(),
      pending: 0,
      inFlight: new Set(),
      dead: false,
    };
    entry.worker.on("message", (response: ParseBatchResponse) => {
      entry.pending--;
      entry.inFlight.delete(response.id);
      const waiter = this.waiting.get(response.id);
      this.waiting.delete(response.id);
      waiter?.resolve(response);
    });
    entry.worker.on("error", (error) => this.replace(entry, error));
    entry.worker.on("exit", (code) => {
      if (code !== 0 && !this.closing)
        this.replace(entry, new Error(`parse worker exited with code ${code}`));
    });
    return entry;
  }

  /**
   * A worker died (out of memory on one mail, most likely): start another in its place and
   * send its unanswered batches again. The batch it was parsing (the oldest: a worker parses
   * in arrival order) goes again one mail per batch, so the mail that kills a worker on its
   * own is the one that fails; batches queued behind it go again as they were. A worker that
   * dies with nothing to blame (it could not start) stops the pool.
   */
  private replace(entry: PoolWorker, cause: Error): void {
    if (entry.dead || this.closing) return;
    entry.dead = true;
    void entry.worker.terminate();
    const [current, ...queued] = [...entry.inFlight];
    if (current === undefined) {
      this.fail(cause);
      return;
    }
    const slot = this.workers.indexOf(entry);
    if (slot >= 0) this.workers[slot] = this.startEntry();
    const take = (id: number): Waiter | undefined => {
      const waiter = this.waiting.get(id);
      this.waiting.delete(id);
      return waiter;
    };
    const resend = (id: number, waiter: Waiter, batches: RawMail[][]): void => {
      Promise.all(batches.map((mails) => this.send(waiter.output, waiter.limits, mails))).then(
        (answers) => waiter.resolve({ id, outcomes: answers.flatMap((a) => a.outcomes) }),
        waiter.reject,
      );
    };
    const waiter = take(current);
    const [only] = waiter?.mails ?? [];
    if (waiter && waiter.mails.length === 1 && only)
      waiter.resolve({ id: current, outcomes: [this.deathOutcome(only, cause)] });
    else if (waiter)
      resend(
        current,
        waiter,
        waiter.mails.map((mail) => [mail]),
      );
    for (const id of queued) {
      const behind = take(id);
      if (behind) resend(id, behind, [behind.mails]);
    }
  }

  private deathOutcome(mail: RawMail, cause: Error): ParseBatchResponse["outcomes"][number] {
    const reason = `the parse worker died on it (heap limit ${this.heapMb} MB): ${cause.message}`;
    return {
      ok: false,
      origin: mail.origin,
      ...(mail.commit === undefined ? {} : { commit: mail.commit }),
      messageId: null,
      reason,
    };
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }

  private send(
    output: ParseOutput,
    limits: MailLimits,
    mails: RawMail[],
  ): Promise<ParseBatchResponse> {
    if (this.failure) return Promise.reject(this.failure);
    const target = this.idlest();
    const id = this.nextId++;
    // Exact copies, moved rather than cloned: a Buffer may sit in a larger shared slab.
    const transfer: ArrayBuffer[] = [];
    const copies = mails.map((mail) => {
      const raw = new Uint8Array(mail.raw.length);
      raw.set(mail.raw);
      transfer.push(raw.buffer);
      return { ...mail, raw: raw as Buffer };
    });
    const request: ParseBatchRequest = { id, output, limits, mails: copies };
    const promise = new Promise<ParseBatchResponse>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, output, limits, mails });
    });
    target.pending++;
    target.inFlight.add(id);
    target.worker.postMessage(request, transfer);
    return promise;
  }

  async *parse(
    mails: AsyncIterable<RawMail> | Iterable<RawMail>,
    opts: ParseOptions<ParseOutput>,
  ): AsyncGenerator<Parsed<MailMessage | SeriesMail>> {
    const batchSize = opts.batchSize ?? 32;
    const limits = opts.limits ?? DEFAULT_MAIL_LIMITS;
    const queuePerWorker = opts.queuePerWorker ?? 3;
    const maxQueued = (this.workers.length + 1) * queuePerWorker;
    const source =
      Symbol.asyncIterator in mails
        ? mails[Symbol.asyncIterator]()
        : (mails as Iterable<RawMail>)[Symbol.iterator]();
    /** Batches in input order: parsed here, or a worker's answer to come. */
    const queue: {
      done: boolean;
      outcomes: Parsed<MailMessage | SeriesMail>[] | Promise<ParseBatchResponse>;
    }[] = [];
    let exhausted = false;
    const nextBatch = async (): Promise<RawMail[]> => {
      const batch: RawMail[] = [];
      while (!exhausted && batch.length < batchSize) {
        const next = await source.next();
        if (next.done) exhausted = true;
        else batch.push(next.value);
      }
      return batch;
    };
    // A batch sent to a worker, marked done when its outcomes arrive.
    const dispatch = (batch: RawMail[]): (typeof queue)[number] => {
      const entry: (typeof queue)[number] = {
        done: false,
        outcomes: this.send(opts.output, limits, batch),
      };
      void (entry.outcomes as Promise<ParseBatchResponse>).then(
        () => (entry.done = true),
        () => (entry.done = true),
      );
      return entry;
    };
    try {
      for (;;) {
        // Keep every worker's queue full.
        while (!exhausted && queue.length < maxQueued && this.idlest().pending < queuePerWorker) {
          const batch = await nextBatch();
          if (batch.length === 0) break;
          queue.push(dispatch(batch));
        }
        const head = queue[0];
        if (head && !head.done && !exhausted && queue.length < maxQueued) {
          // The workers are busy: parse the next batch here meanwhile, unless it holds a
          // mail big enough to be dangerous outside a worker's heap limit.
          const batch = await nextBatch();
          if (batch.some((mail) => mail.raw.length > CALLING_THREAD_MAX_BYTES)) {
            queue.push(dispatch(batch));
            continue;
          }
          const outcomes: Parsed<MailMessage | SeriesMail>[] = [];
          for (const mail of batch) outcomes.push(await parseOne(mail, opts.output, limits));
          if (outcomes.length > 0) queue.push({ done: true, outcomes });
          continue;
        }
        const entry = queue.shift();
        if (!entry) return;
        if (Array.isArray(entry.outcomes)) yield* entry.outcomes;
        else for (const outcome of (await entry.outcomes).outcomes) yield fromWire(outcome);
      }
    } finally {
      if (!exhausted) await source.return?.();
      // Answers nobody will read any more.
      for (const entry of queue) if (!Array.isArray(entry.outcomes)) entry.outcomes.catch(() => {});
    }
  }

  private idlest(): PoolWorker {
    let best = this.workers[0];
    for (const entry of this.workers) if (best && entry.pending < best.pending) best = entry;
    if (!best) throw new Error("parse pool has no workers");
    return best;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((entry) => entry.worker.terminate()));
  }
}
