import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ConnectionOptions } from "bullmq";
import type { Logger } from "../src/log.js";
import { QUEUE_BOARD_PATH, queueBoard } from "./dashboard.js";
import type { Metrics } from "./metrics.js";

/** What `/healthz` answers: 200 when `ok`, else 503, with each check's state. */
export interface HealthReport {
  ok: boolean;
  checks: Record<string, string | boolean>;
}

export interface WebServerOptions {
  /** Default 127.0.0.1: the metrics are for a scraper on this machine or a tunnel to it. */
  host?: string;
  /** 0: a free port chosen by the OS (see `url`). */
  port: number;
  metrics: Pick<Metrics, "registry">;
  health: () => Promise<HealthReport>;
  log: Logger;
  /** More routes (the dashboard, workers/dashboard.ts): null for a path it does not serve. */
  dashboard?: (url: URL) => Promise<WebReply | null>;
  /** The service's queues, shown read-only by bull-board under `/queues` (workers/dashboard.ts). */
  queues?: { connection: ConnectionOptions; prefix: string };
}

export interface WebServer {
  /** `http://host:port` with the port actually bound. */
  url: string;
  /** Stop listening and drop every connection, keep-alive and in-flight ones included. */
  close(): Promise<void>;
}

export interface WebReply {
  status: number;
  contentType: string;
  body: string;
  /** More response headers (a Content-Security-Policy, ...). */
  headers?: Record<string, string>;
}

const JSON_TYPE = "application/json; charset=utf-8";
const TEXT_TYPE = "text/plain; charset=utf-8";

/**
 * The service's own HTTP endpoints: `GET /metrics` (Prometheus) and `GET /healthz`, and the
 * dashboard's routes when given.
 */
export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const log = opts.log.child({ component: "web" });
  const board = opts.queues && queueBoard({ ...opts.queues, log });
  const server = createServer((req, res) => {
    const path = pathOf(req);
    // The board answers with headers of its own (it runs scripts the dashboard's CSP forbids).
    if (board && (path === QUEUE_BOARD_PATH || path.startsWith(`${QUEUE_BOARD_PATH}/`)))
      board.handle(req, res);
    else void handle(req, res, opts, log);
  });
  server.listen(opts.port, opts.host ?? "127.0.0.1");
  try {
    await once(server, "listening");
  } catch (error) {
    await board?.close();
    throw error;
  }
  const url = urlOf(server.address() as AddressInfo);
  log.info({ url }, "web server listening");

  let closing: Promise<void> | undefined;
  return {
    url,
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // close() alone waits for open connections: a scraper's keep-alive socket or a
        // request still being read would hold the shutdown for up to a minute.
        server.closeAllConnections();
      }).then(() => board?.close());
      return closing;
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  opts: WebServerOptions,
  log: Logger,
): Promise<void> {
  let reply: WebReply;
  try {
    reply = await route(req, opts);
  } catch (error) {
    log.error({ err: error, path: pathOf(req) }, "web request failed");
    // No message or stack: they are for the log, not for whoever asks.
    reply = { status: 500, contentType: TEXT_TYPE, body: "internal error\n" };
  }
  // A HEAD response gets the headers only: node drops the body itself.
  res.writeHead(reply.status, {
    "content-type": reply.contentType,
    "content-length": Buffer.byteLength(reply.body),
    "cache-control": "no-store",
    ...reply.headers,
  });
  res.end(reply.body);
}

async function route(req: IncomingMessage, opts: WebServerOptions): Promise<WebReply> {
  if (req.method !== "GET" && req.method !== "HEAD") return notFound();
  switch (pathOf(req)) {
    case "/metrics":
      return {
        status: 200,
        contentType: opts.metrics.registry.contentType,
        body: await opts.metrics.registry.metrics(),
      };
    case "/healthz": {
      const report = await opts.health();
      return {
        status: report.ok ? 200 : 503,
        contentType: JSON_TYPE,
        body: `${JSON.stringify({ ok: report.ok, checks: report.checks })}\n`,
      };
    }
    default: {
      const url = requestUrl(req);
      return (opts.dashboard && url && (await opts.dashboard(url))) ?? notFound();
    }
  }
}

function notFound(): WebReply {
  return { status: 404, contentType: TEXT_TYPE, body: "not found\n" };
}

/** The request's path without its query; unparsable targets fall through to 404. */
function pathOf(req: IncomingMessage): string {
  return requestUrl(req)?.pathname ?? "";
}

function requestUrl(req: IncomingMessage): URL | null {
  try {
    return new URL(req.url ?? "/", "http://localhost");
  } catch {
    return null;
  }
}

function urlOf(address: AddressInfo): string {
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}
