import { Worker } from "node:worker_threads";
import { gzipSync } from "node:zlib";

/**
 * The worker: gzip each mail of a request, answer with exact copies, moved. Plain
 * CommonJS, so that it starts at once, without the TypeScript loader.
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { gzipSync } = require("node:zlib");
parentPort.on("message", ({ id, raws }) => {
  const out = raws.map((raw) => {
    const gz = gzipSync(raw);
    const copy = new Uint8Array(gz.length);
    copy.set(gz);
    return copy;
  });
  parentPort.postMessage({ id, out }, out.map((b) => b.buffer));
});
`;

interface Request {
  worker: Worker;
  resolve: (out: Buffer[]) => void;
  reject: (error: Error) => void;
}

/**
 * Gzip on a thread of its own: the mails of a batch compress there while this thread
 * parses and writes (compressing the patches of the kvmarm archive takes seconds). The
 * worker starts on the first request and keeps the process alive only while a request is
 * waiting; should it fail, the batch is compressed here.
 */
export class Compressor {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, Request>();
  private nextId = 0;

  async gzip(raws: readonly Buffer[]): Promise<Buffer[]> {
    if (raws.length === 0) return [];
    try {
      return await this.request(raws);
    } catch {
      return raws.map((raw) => gzipSync(raw));
    }
  }

  private request(raws: readonly Buffer[]): Promise<Buffer[]> {
    const worker = this.start();
    const id = this.nextId++;
    // Exact copies, moved rather than cloned: a Buffer may sit in a larger shared slab.
    const copies = raws.map((raw) => {
      const copy = new Uint8Array(raw.length);
      copy.set(raw);
      return copy;
    });
    const answer = new Promise<Buffer[]>((resolve, reject) => {
      this.waiting.set(id, { worker, resolve, reject });
    });
    worker.ref();
    worker.postMessage(
      { id, raws: copies },
      copies.map((c) => c.buffer),
    );
    return answer;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const [id, request] of this.waiting) {
        if (request.worker !== worker) continue;
        this.waiting.delete(id);
        request.reject(error);
      }
      void worker.terminate();
    };
    worker.on("message", ({ id, out }: { id: number; out: Uint8Array[] }) => {
      const request = this.waiting.get(id);
      this.waiting.delete(id);
      if (![...this.waiting.values()].some((r) => r.worker === worker)) worker.unref();
      request?.resolve(out.map((b) => Buffer.from(b.buffer, b.byteOffset, b.length)));
    });
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`gzip worker exited with code ${code}`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
