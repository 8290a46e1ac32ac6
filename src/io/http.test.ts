import { once } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import { describe, expect, it } from "vitest";
import { httpGet, redactUrl, retryAfterMs } from "./http.js";

async function serve(listener: RequestListener): Promise<{ url: string; server: Server }> {
  const server = createServer(listener);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { url: `http://127.0.0.1:${address.port}/`, server };
}

const close = (server: Server): Promise<void> => {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
};

describe("httpGet", () => {
  it("returns any status as a response with its body and headers", async () => {
    const { url, server } = await serve((_req, res) => res.writeHead(503, { etag: "x" }).end("no"));
    try {
      const result = await httpGet(url, { timeoutMs: 5000, maxBodyBytes: 100 });
      expect(result.outcome).toBe("response");
      if (result.outcome !== "response") return;
      expect(result.status).toBe(503);
      expect(result.headers.get("etag")).toBe("x");
      expect(result.body.toString()).toBe("no");
    } finally {
      await close(server);
    }
  });

  it("stops reading a body past the cap, announced or streamed", async () => {
    const { url, server } = await serve((req, res) => {
      if (req.url === "/announced") return void res.end(Buffer.alloc(5000));
      res.writeHead(200); // chunked: no Content-Length to go by
      for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000));
      res.end();
    });
    try {
      for (const path of ["announced", "streamed"]) {
        const result = await httpGet(url + path, { timeoutMs: 5000, maxBodyBytes: 4096 });
        expect(result).toEqual({ outcome: "too-large", status: 200, maxBodyBytes: 4096 });
      }
    } finally {
      await close(server);
    }
  });

  it("gives up on a server that does not answer in time, and names a refused connection", async () => {
    const { url, server } = await serve(() => undefined);
    try {
      const started = Date.now();
      expect(await httpGet(url, { timeoutMs: 300, maxBodyBytes: 100 })).toEqual({
        outcome: "timeout",
        timeoutMs: 300,
      });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await close(server);
    }
    expect(await httpGet(url, { timeoutMs: 2000, maxBodyBytes: 100 })).toEqual({
      outcome: "network",
      reason: "ECONNREFUSED",
    });
  });

  it("sends credentials in a URL as Basic authorization, and keeps them out of redacted URLs", async () => {
    let auth: string | undefined;
    const { url, server } = await serve((req, res) => {
      auth = req.headers.authorization;
      res.end();
    });
    try {
      const secretUrl = url.replace("http://", "http://bot:s3cret@");
      await httpGet(secretUrl, { timeoutMs: 5000, maxBodyBytes: 100 });
      expect(auth).toBe(`Basic ${Buffer.from("bot:s3cret").toString("base64")}`);
      expect(redactUrl(secretUrl)).toBe(url);
    } finally {
      await close(server);
    }
  });

  it("POSTs an empty body when asked, with the query in the URL", async () => {
    const seen: { method?: string; url?: string; length?: string; body: string }[] = [];
    const { url, server } = await serve((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        seen.push({
          method: req.method,
          url: req.url,
          length: req.headers["content-length"],
          body,
        });
        res.end("ok");
      });
    });
    try {
      const result = await httpGet(`${url}?q=rt:1..&x=m`, {
        method: "POST",
        timeoutMs: 5000,
        maxBodyBytes: 100,
      });
      expect(result).toMatchObject({ outcome: "response", status: 200 });
      expect(seen).toEqual([{ method: "POST", url: "/?q=rt:1..&x=m", length: "0", body: "" }]);
    } finally {
      await close(server);
    }
  });
});

describe("retryAfterMs", () => {
  it("reads delay-seconds and HTTP dates", () => {
    expect(retryAfterMs("120")).toBe(120_000);
    const now = Date.parse("Tue, 28 Jan 2020 18:50:00 GMT");
    expect(retryAfterMs("Tue, 28 Jan 2020 18:50:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("soon")).toBeNull();
    expect(retryAfterMs(null)).toBeNull();
  });
});
