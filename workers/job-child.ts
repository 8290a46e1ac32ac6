/**
 * The process one job runs in (started by `runInChild`): it imports the queue's processor,
 * runs it on the job and answers once. The worker process stays free to renew locks, run
 * other queues and kill this one when it runs over its time limit.
 */
import { errorKind } from "../src/errors.js";
import type { ChildReply } from "../src/io/child.js";
import type { ChildJobMessage } from "./isolated.js";

process.once("message", (message: ChildJobMessage) => {
  void runJob(message).then((reply) => process.send?.(reply, () => process.exit(0)));
});

// The worker process is gone (it did not get to kill this group): stop rather than run on.
process.once("disconnect", () => process.exit(1));

async function runJob(message: ChildJobMessage): Promise<ChildReply> {
  try {
    const module = (await import(message.processor.module)) as Record<string, unknown>;
    const factory = module[message.processor.exportName];
    if (typeof factory !== "function") {
      throw new Error(`${message.processor.exportName} is not exported by its module`);
    }
    const processor = (factory as ProcessorFactory)(message.config);
    return { kind: "returned", value: await processor(message.job) };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    return {
      kind: "threw",
      error: { name: e.name, message: e.message, stack: e.stack ?? "", kind: errorKind(e) },
    };
  }
}

type ProcessorFactory = (config: unknown) => (job: ChildJobMessage["job"]) => Promise<unknown>;
