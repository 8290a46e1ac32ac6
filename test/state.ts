import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { StateStore } from "../src/state/store.js";

/** The shared test Redis (started by .ci/run when none answers). */
export const TEST_REDIS_URL = process.env.HYPWATCH_REDIS_URL ?? "redis://127.0.0.1:6379";

/** A store under a fresh prefix of its own on the test Redis; `drop` deletes every key of it. */
export interface TestStore {
  store: StateStore;
  prefix: string;
  redis: Redis;
  drop(): Promise<void>;
}

export async function freshStore(): Promise<TestStore> {
  const redis = new Redis(TEST_REDIS_URL);
  const prefix = `hypwatch-test-${randomUUID()}`;
  const store = new StateStore(redis, prefix);
  await store.ensureSchema();
  return {
    store,
    prefix,
    redis,
    async drop() {
      for (let cursor = "0"; ;) {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
        if (cursor === "0") break;
      }
      redis.disconnect();
    },
  };
}

/** Delete every key under `prefix` (a test's state and queues). */
export async function dropKeys(redis: Redis, prefix: string): Promise<void> {
  for (let cursor = "0"; ;) {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
    if (cursor === "0") break;
  }
}
