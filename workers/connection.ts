import type { ConnectionOptions } from "bullmq";

/**
 * Wait before reconnect attempt `attempt` (1, 2, ...): 500 ms doubling to 10 s. A restart
 * of Redis (a second or two) is bridged at once; a long outage costs one try per 10 s per
 * connection instead of BullMQ's default retries, each of which printed a stack.
 */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(500 * 2 ** Math.max(0, attempt - 1), 10_000);
}

/** BullMQ connection options from a `redis://[:password@]host[:port][/db]` URL. */
export function redisConnection(url: string): ConnectionOptions {
  const u = new URL(url);
  return {
    host: u.hostname || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    // Workers block on Redis; BullMQ requires this to be null for them.
    maxRetriesPerRequest: null,
    retryStrategy: reconnectDelayMs,
  };
}
