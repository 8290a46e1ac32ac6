import { Redis, type RedisOptions } from "ioredis";
import { errorName, type Logger } from "../src/log.js";
import { reconnectDelayMs, redisConnection } from "./connection.js";

/** Errors that mean "Redis is not there (yet)": the watcher reports them once per outage. */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (CONNECTION_CODES.has(errorName(error))) return true;
  return /Connection is closed|Stream isn't writeable|^(WRONGPASS|NOAUTH|LOADING)\b/.test(
    error.message,
  );
}

export interface RedisHealth {
  /** True from the first failed reconnect until Redis answers again. */
  isDown(): boolean;
  close(): void;
}

/**
 * One connection that only watches: one log line when Redis goes away (with the backoff
 * every connection of this process uses) and one when it is back, however many
 * connections the workers hold and however often they retry.
 */
export function watchRedis(url: string, log: Logger): RedisHealth {
  const client = new Redis({ ...(redisConnection(url) as RedisOptions), connectionName: "watch" });
  let downSince: number | null = null;
  let attempts = 0;
  let lastError: unknown = null;
  client.on("error", (error: unknown) => {
    lastError = error;
  });
  client.on("reconnecting", (backoffMs: number) => {
    attempts++;
    if (downSince !== null) return;
    downSince = Date.now();
    // A server that shuts down closes the socket without an error.
    const err = lastError === null ? {} : { err: lastError };
    log.warn(
      { ...err, backoffMs, maxBackoffMs: reconnectDelayMs(Infinity) },
      "redis connection lost",
    );
  });
  client.on("ready", () => {
    if (downSince === null) return;
    log.info({ downMs: Date.now() - downSince, attempts }, "redis connection back");
    downSince = null;
    attempts = 0;
    lastError = null;
  });
  return {
    isDown: () => downSince !== null,
    close: () => client.disconnect(),
  };
}
