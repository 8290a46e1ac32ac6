import { once } from "node:events";
import { Agent, request, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { captureLog } from "../test/log-capture.js";
import { createMetrics } from "./metrics.js";
import { startWebServer, type HealthReport, type WebServer, type WebServerOptions } from "./web.js";

const servers: WebServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function start(
  health: () => Promise<HealthReport> = async () => ({ ok: true, checks: {} }),
  dashboard?: WebServerOptions["dashboard"],
) {
  const captured = captureLog();
  const server = await startWebServer({
    host: "127.0.0.1",
    port: 0,
    metrics: createMetrics(),
    health,
    log: captured.log,
    ...(dashboard ? { dashboard } : {}),
  });
  servers.push(server);
  return { server, lines: captured.lines };
}

describe("the web server", () => {
  it("listens on the given host at a port the OS chose, and says where", async () => {
    const { server, lines } = await start();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.url).not.toMatch(/:0$/);
    expect(lines()).toMatchObject([{ msg: "web server listening", url: server.url }]);
  });

  it("/healthz: 200 with the checks when ok", async () => {
    const { server } = await start(async () => ({
      ok: true,
      checks: { redis: true, queuePrefix: "hypwatch" },
    }));
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({
      ok: true,
      checks: { redis: true, queuePrefix: "hypwatch" },
    });
  });

  it("/healthz: 503 with the checks when not ok", async () => {
    const { server } = await start(async () => ({ ok: false, checks: { redis: "down" } }));
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ok: false, checks: { redis: "down" } });
  });

  it("a failing handler: 500 without message or stack, logged", async () => {
    const { server, lines } = await start(async () => {
      throw new Error("health check exploded at /srv/hypwatch/secret-path");
    });
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe("internal error\n");
    expect(lines()).toContainEqual(
      expect.objectContaining({
        msg: "web request failed",
        path: "/healthz",
        err: expect.objectContaining({ message: expect.stringContaining("exploded") }),
      }),
    );
  });

  it("anything else is 404: other paths, and other methods on known ones", async () => {
    const { server } = await start();
    expect((await fetch(`${server.url}/`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics/extra`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: "POST", body: "x" })).status).toBe(404);
    expect((await fetch(`${server.url}/healthz`, { method: "DELETE" })).status).toBe(404);
  });

  it("paths it does not serve go to the dashboard, with its headers; what it refuses is 404", async () => {
    const asked: string[] = [];
    const { server } = await start(undefined, async (url) => {
      asked.push(`${url.pathname}${url.search}`);
      if (url.pathname !== "/") return null;
      return {
        status: 200,
        contentType: "text/html; charset=utf-8",
        body: "<!doctype html>\n",
        headers: { "content-security-policy": "default-src 'none'" },
      };
    });
    const res = await fetch(`${server.url}/?limit=3`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toBe("default-src 'none'");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.text()).toBe("<!doctype html>\n");
    expect((await fetch(`${server.url}/elsewhere`)).status).toBe(404);
    // Its own routes stay its own; other methods never reach the dashboard.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/`, { method: "DELETE" })).status).toBe(404);
    expect(asked).toEqual(["/?limit=3", "/elsewhere"]);
  });

  it("a query string does not change the route", async () => {
    const { server } = await start();
    const res = await fetch(`${server.url}/metrics?name[]=hypwatch_redis_up`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("# TYPE hypwatch_job_duration_seconds histogram");
  });

  it("HEAD answers the headers of GET without a body", async () => {
    const { server } = await start(async () => ({ ok: false, checks: { redis: false } }));
    const metrics = await fetch(`${server.url}/metrics`, { method: "HEAD" });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(Number(metrics.headers.get("content-length"))).toBeGreaterThan(0);
    expect(await metrics.text()).toBe("");
    const health = await fetch(`${server.url}/healthz`, { method: "HEAD" });
    expect(health.status).toBe(503);
    expect(await health.text()).toBe("");
  });

  it("close() stops at once with a scraper's keep-alive connection open", async () => {
    const { server } = await start();
    const agent = new Agent({ keepAlive: true });
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      request(`${server.url}/metrics`, { agent }, resolve).on("error", reject).end(),
    );
    expect(res.headers.connection).toBe("keep-alive");
    const socket = res.socket;
    res.resume();
    await once(res, "end");
    const socketClosed = once(socket, "close");

    const started = Date.now();
    await server.close();
    await socketClosed;
    expect(Date.now() - started).toBeLessThan(1_000);
    agent.destroy();
  });

  it("close() stops at once with a request still being sent", async () => {
    const { server } = await start();
    const socket = connect(Number(new URL(server.url).port), "127.0.0.1");
    await once(socket, "connect");
    // Headers not finished: the server waits for them (headersTimeout, a minute by default).
    socket.write("GET /metrics HTTP/1.1\r\nHost: localhost\r\n");
    const socketClosed = once(socket, "close");
    await new Promise((r) => setTimeout(r, 50));

    const started = Date.now();
    await server.close();
    await socketClosed;
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("close() twice is one close", async () => {
    const { server } = await start();
    await Promise.all([server.close(), server.close()]);
    await server.close();
  });
});
