import { parentPort } from "node:worker_threads";
import { parseBatch, type ParseBatchRequest } from "./parseBatch.js";

// One worker of the parse pool: batches are parsed one after the other, in arrival order.
const port = parentPort;
if (!port) throw new Error("parseWorker runs only as a worker thread");
let chain: Promise<void> = Promise.resolve();
port.on("message", (request: ParseBatchRequest) => {
  chain = chain.then(async () => {
    port.postMessage(await parseBatch(request));
  });
});
