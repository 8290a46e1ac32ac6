import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
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

export interface ParseOptions<O extends ParseOutput> {
  output: O;
  /** Worker threads; 0 parses on the calling thread. Defaults to the number of cores. */
  workers?: number;
  /** Mails per message to a worker. */
  batchSize?: number;
  /** Batches given out and not yet handed on, all workers together. Bounds memory. */
  maxBatchesInFlight?: number;
}

/**
 * Parse mails with `parseMail`, on worker threads when `workers` > 0, and hand the results
 * on in input order: the same outcomes, in the same order, as parsing one by one. A mail
 * that cannot be parsed gives `{ ok: false, error }` and parsing goes on.
 */
export async function* parseMails<O extends ParseOutput>(
  mails: AsyncIterable<RawMail> | Iterable<RawMail>,
  opts: ParseOptions<O>,
): AsyncGenerator<Parsed<OutputOf<O>>> {
  const workers = opts.workers ?? availableParallelism();
  if (workers <= 0) {
    for await (const mail of mails) {
      yield (await parseOne(mail, opts.output)) as Parsed<OutputOf<O>>;
    }
    return;
  }
  const pool = new ParsePool(workers);
  try {
    yield* pool.parse(mails, opts) as AsyncGenerator<Parsed<OutputOf<O>>>;
  } finally {
    await pool.close();
  }
}

interface PoolWorker {
  worker: Worker;
  pending: number;
}

/**
 * Worker threads running `parseMail`. Sources written in TypeScript (tests, `tsx`) start
 * the worker through tsx; the built package starts the compiled worker.
 */
class ParsePool {
  private readonly workers: PoolWorker[] = [];
  private readonly waiting = new Map<
    number,
    { resolve: (r: ParseBatchResponse) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;
  private failure: Error | null = null;
  private closing = false;

  constructor(size: number) {
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
    const start = (): Worker =>
      tsx
        ? new Worker(
            `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(file.href)}); });`,
            { eval: true },
          )
        : new Worker(file);
    for (let i = 0; i < size; i++) {
      const worker = start();
      const entry = { worker, pending: 0 };
      worker.on("message", (response: ParseBatchResponse) => {
        entry.pending--;
        const waiter = this.waiting.get(response.id);
        this.waiting.delete(response.id);
        waiter?.resolve(response);
      });
      worker.on("error", (error) => this.fail(error));
      worker.on("exit", (code) => {
        if (code !== 0 && !this.closing)
          this.fail(new Error(`parse worker exited with code ${code}`));
      });
      this.workers.push(entry);
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }

  private send(output: ParseOutput, mails: RawMail[]): Promise<ParseBatchResponse> {
    if (this.failure) return Promise.reject(this.failure);
    let target = this.workers[0];
    for (const entry of this.workers) if (target && entry.pending < target.pending) target = entry;
    if (!target) return Promise.reject(new Error("parse pool has no workers"));
    const id = this.nextId++;
    // Exact copies, moved rather than cloned: a Buffer may sit in a larger shared slab.
    const transfer: ArrayBuffer[] = [];
    const copies = mails.map((mail) => {
      const raw = new Uint8Array(mail.raw.length);
      raw.set(mail.raw);
      transfer.push(raw.buffer);
      return { ...mail, raw: raw as Buffer };
    });
    const request: ParseBatchRequest = { id, output, mails: copies };
    const promise = new Promise<ParseBatchResponse>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
    });
    target.pending++;
    target.worker.postMessage(request, transfer);
    return promise;
  }

  async *parse(
    mails: AsyncIterable<RawMail> | Iterable<RawMail>,
    opts: ParseOptions<ParseOutput>,
  ): AsyncGenerator<Parsed<MailMessage | SeriesMail>> {
    const batchSize = opts.batchSize ?? 32;
    const maxInFlight = opts.maxBatchesInFlight ?? this.workers.length * 3;
    const source =
      Symbol.asyncIterator in mails
        ? mails[Symbol.asyncIterator]()
        : (mails as Iterable<RawMail>)[Symbol.iterator]();
    const inFlight: Promise<ParseBatchResponse>[] = [];
    let exhausted = false;
    try {
      for (;;) {
        while (!exhausted && inFlight.length < maxInFlight) {
          const batch: RawMail[] = [];
          while (batch.length < batchSize) {
            const next = await source.next();
            if (next.done) {
              exhausted = true;
              break;
            }
            batch.push(next.value);
          }
          if (batch.length > 0) inFlight.push(this.send(opts.output, batch));
        }
        const head = inFlight.shift();
        if (!head) return;
        const response = await head;
        for (const outcome of response.outcomes) yield fromWire(outcome);
      }
    } finally {
      if (!exhausted) await source.return?.();
      // Answers nobody will read any more.
      for (const promise of inFlight) promise.catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((entry) => entry.worker.terminate()));
  }
}
