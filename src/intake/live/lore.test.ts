import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../../test/corpus.js";
import { startPublicInbox, type PublicInboxPeer } from "../../../test/public-inbox-server.js";
import { DEFAULT_MAIL_LIMITS } from "../../mail/limits.js";
import { SourceError } from "../errors.js";
import { mboxrdEntry, readMbox } from "../mbox.js";
import type { RawMail } from "../types.js";
import { createLoreSource, LoreError, parseLoreFeed, type LoreSourceOptions } from "./lore.js";
import { messageId, readAll } from "../../../test/live-source.js";
import { seenKey } from "./common.js";

const THREAD = corpusPath("threads", "scs-v7", "scs-v7-thread.mbox");

const base = (inboxUrl: string): LoreSourceOptions => ({
  inboxUrl,
  version: "0.1.0",
  contact: "https://example.org/hypwatch",
  pollIntervalMs: 60_000,
  backoffMs: 1,
  sleep: async () => undefined,
});

let thread: RawMail[];
beforeAll(async () => {
  thread = [];
  for await (const mail of readMbox(THREAD)) thread.push(mail);
  expect(thread.length).toBe(30);
});

describe("lore source against a real public-inbox-httpd", () => {
  let peer: PublicInboxPeer;
  let afterFirst: string;
  beforeAll(async () => {
    peer = await startPublicInbox("kvmarm");
    for (const mail of thread.slice(0, 12)) await peer.deliver(mail.raw);
  });
  afterAll(async () => {
    await peer?.stop();
  });

  it("yields every delivered message once, each with a checkpoint", async () => {
    const source = createLoreSource(base(peer.inboxUrl));
    expect(source.id).toBe("lore:kvmarm");
    const { mails, errors } = await readAll(source, null);
    expect(errors).toEqual([]);
    const ids = mails.map((m) => messageId(m.mail.raw));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(
      thread
        .slice(0, 12)
        .map((m) => messageId(m.raw))
        .sort(),
    );
    for (const m of mails) expect(JSON.parse(m.checkpoint)).toMatchObject({ v: 1 });
    afterFirst = mails.at(-1)?.checkpoint ?? "";
    // The same checkpoint again: nothing new.
    expect((await readAll(source, afterFirst)).mails).toEqual([]);
  });

  it("from that checkpoint, yields only the messages delivered since", async () => {
    for (const mail of thread.slice(12, 16)) await peer.deliver(mail.raw);
    const source = createLoreSource(base(peer.inboxUrl));
    const { mails, errors } = await readAll(source, afterFirst);
    expect(errors).toEqual([]);
    expect(mails.map((m) => messageId(m.mail.raw)).sort()).toEqual(
      thread
        .slice(12, 16)
        .map((m) => messageId(m.raw))
        .sort(),
    );
  });

  it("reports a thread that inflates past the limit by name, and yields what came before", async () => {
    const limits = { ...DEFAULT_MAIL_LIMITS, maxDecompressedBytes: 60_000 };
    const source = createLoreSource({ ...base(peer.inboxUrl), limits, maxThreadBytes: 1 << 20 });
    const { mails, errors } = await readAll(source, null);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toBeInstanceOf(SourceError);
    expect((errors[0] as SourceError).code).toBe("over-limit");
    expect(errors[0]?.message).toMatch(/t\.mbox\.gz.*HYPWATCH_MAX_DECOMPRESSED_BYTES/);
    expect(mails.length).toBeGreaterThan(0);
    expect(mails.length).toBeLessThan(16);
  });
});

/** A tiny lore stand-in for the statuses public-inbox-httpd does not send. */
interface FakeLore {
  url: string;
  requests: { path: string; headers: IncomingMessage["headers"] }[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, count: number) => void;

async function fakeLore(routes: Record<string, Handler>): Promise<FakeLore> {
  const requests: FakeLore["requests"] = [];
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(req.url ?? "");
    requests.push({ path, headers: req.headers });
    const count = (counts.get(path) ?? 0) + 1;
    counts.set(path, count);
    const route = routes[path];
    if (route) route(req, res, count);
    else res.writeHead(404).end("not found");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    url: `http://127.0.0.1:${address.port}/kvmarm`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** new.atom as public-inbox writes it, one entry per id (newest first). */
function atom(base: string, ids: string[]): string {
  const entries = ids
    .map(
      (id) =>
        `<entry><author><name>A</name></author><title>t</title><updated>2020-01-28T18:50:03Z</updated><link\nhref="${base}/${encodeURIComponent(id)}/"/><id>urn:uuid:x</id><content type="xhtml"><div><pre>&lt;body&gt; <a\nhref="https://elsewhere.example/x">x</a></pre></div></content></entry>`,
    )
    .join("");
  return `<?xml version="1.0" encoding="us-ascii"?>\n<feed\nxmlns="http://www.w3.org/2005/Atom"><title>t</title><link\nrel="alternate"\ntype="text/html"\nhref="${base}/"/><updated>2020-01-28T18:50:03Z</updated>${entries}</feed>`;
}

const mboxGz = (mails: RawMail[]): Buffer =>
  gzipSync(Buffer.concat(mails.map((m) => mboxrdEntry(m.raw))));

describe("lore source: statuses, validators and caps", () => {
  it("parses the entries of a public-inbox feed", () => {
    const entries = parseLoreFeed(atom("http://h/kvmarm", ["a/b@c", "d@e"]));
    expect(entries?.map((e) => [e.messageId, e.segment])).toEqual([
      ["a/b@c", "a%2Fb%40c"],
      ["d@e", "d%40e"],
    ]);
    expect(parseLoreFeed("<html>challenge</html>")).toBeNull();
  });

  it("sends its User-Agent and the feed's validators; a 304 yields nothing", async () => {
    const id = messageId(thread[0]!.raw);
    let feedUrl = "";
    const server = await fakeLore({
      "/kvmarm/new.atom": (req, res) => {
        if (req.headers["if-none-match"] === '"v1"') return void res.writeHead(304).end();
        res.writeHead(200, { etag: '"v1"', "last-modified": "Tue, 28 Jan 2020 18:50:03 GMT" });
        res.end(atom(feedUrl, [id]));
      },
      [`/kvmarm/${id}/t.mbox.gz`]: (_req, res) => res.end(mboxGz(thread.slice(0, 3))),
    });
    feedUrl = server.url;
    try {
      const source = createLoreSource(base(server.url));
      const first = await readAll(source, null);
      expect(first.mails.length).toBe(3);
      const checkpoint = first.mails.at(-1)?.checkpoint ?? "";
      expect(JSON.parse(checkpoint)).toMatchObject({ etag: '"v1"' });
      expect(server.requests[0]?.headers["user-agent"]).toBe(
        "hypwatch/0.1.0 (+https://example.org/hypwatch)",
      );
      const before = server.requests.length;
      const second = await readAll(source, checkpoint);
      expect(second.mails).toEqual([]);
      expect(server.requests.length).toBe(before + 1);
      expect(server.requests.at(-1)?.headers["if-modified-since"]).toBe(
        "Tue, 28 Jan 2020 18:50:03 GMT",
      );
    } finally {
      await server.close();
    }
  });

  it("names a thread over the cap and a thread gone, and reads the others", async () => {
    const [big, gone, small] = [thread[0]!, thread[1]!, thread[2]!].map((m) => messageId(m.raw));
    let feedUrl = "";
    const server = await fakeLore({
      "/kvmarm/new.atom": (_req, res) => res.end(atom(feedUrl, [small!, gone!, big!])),
      [`/kvmarm/${big}/t.mbox.gz`]: (_req, res) => res.end(mboxGz(thread.slice(0, 30))),
      [`/kvmarm/${gone}/t.mbox.gz`]: (_req, res) => res.writeHead(410).end(),
      [`/kvmarm/${small}/t.mbox.gz`]: (_req, res) => res.end(mboxGz([thread[2]!])),
    });
    feedUrl = server.url;
    try {
      const source = createLoreSource({ ...base(server.url), maxThreadBytes: 20_000 });
      const { mails, errors } = await readAll(source, null);
      expect(mails.map((m) => messageId(m.mail.raw))).toEqual([small]);
      expect(errors.map((e) => e.name)).toEqual(["SourceError", "LoreError"]);
      expect((errors[0] as SourceError).code).toBe("over-limit");
      expect(errors[0]?.message).toContain(big);
      expect((errors[1] as LoreError).code).toBe("thread-gone");
      expect(errors[1]?.message).toContain("410");
    } finally {
      await server.close();
    }
  });

  it("retries a 503, honouring Retry-After, then reads", async () => {
    const id = messageId(thread[0]!.raw);
    let feedUrl = "";
    const server = await fakeLore({
      "/kvmarm/new.atom": (_req, res, n) => {
        if (n === 1) return void res.writeHead(503, { "retry-after": "7" }).end();
        res.end(atom(feedUrl, [id]));
      },
      [`/kvmarm/${id}/t.mbox.gz`]: (_req, res, n) => {
        if (n <= 2) return void res.writeHead(n === 1 ? 500 : 429).end();
        res.end(mboxGz([thread[0]!]));
      },
    });
    feedUrl = server.url;
    try {
      const waits: number[] = [];
      const source = createLoreSource({
        ...base(server.url),
        random: () => 0.5,
        sleep: async (ms) => void waits.push(ms),
      });
      const { mails, errors } = await readAll(source, null);
      expect(errors).toEqual([]);
      expect(mails.length).toBe(1);
      expect(waits).toEqual([7000, 1, 2]);
    } finally {
      await server.close();
    }
  });

  it("stops fetching threads when lore asks for a longer pause than it waits", async () => {
    const [first, second] = [thread[0]!, thread[1]!].map((m) => messageId(m.raw));
    let feedUrl = "";
    const server = await fakeLore({
      "/kvmarm/new.atom": (_req, res) => res.end(atom(feedUrl, [second!, first!])),
      [`/kvmarm/${first}/t.mbox.gz`]: (_req, res) =>
        res.writeHead(429, { "retry-after": "3600" }).end(),
      [`/kvmarm/${second}/t.mbox.gz`]: (_req, res) => res.end(mboxGz([thread[1]!])),
    });
    feedUrl = server.url;
    try {
      const { mails, errors } = await readAll(createLoreSource(base(server.url)), null);
      expect(mails).toEqual([]);
      expect(errors.map((e) => (e as LoreError).code)).toEqual(["unavailable"]);
      expect(errors[0]?.message).toMatch(/HTTP 429, Retry-After 3600 s/);
      expect(server.requests.map((r) => r.path)).toEqual([
        "/kvmarm/new.atom",
        `/kvmarm/${first}/t.mbox.gz`,
      ]);
    } finally {
      await server.close();
    }
  });

  it("a catch-up search that stays unavailable is reported, and the next read searches again", async () => {
    // thread[0] came while the source was away and new.atom lists only thread[1] now.
    const [away, listed] = [thread[0]!, thread[1]!];
    const readAt = 1_700_000_000_000;
    const clock = readAt + 3600_000;
    const search = `/kvmarm/?q=rt:${readAt / 1000 - 15 * 60}..&x=m`;
    let feedUrl = "";
    const server = await fakeLore({
      "/kvmarm/new.atom": (_req, res) => {
        res.writeHead(200, { etag: '"v2"' }).end(atom(feedUrl, [messageId(listed.raw)]));
      },
      [`/kvmarm/${messageId(listed.raw)}/t.mbox.gz`]: (_req, res) => res.end(mboxGz([listed])),
      // public-inbox lists results newest first.
      [search]: (req, res, n) => {
        if (req.method !== "POST") return void res.writeHead(405).end();
        if (n <= 2) return void res.writeHead(503).end();
        res.writeHead(200, { "content-type": "application/gzip" }).end(mboxGz([listed, away]));
      },
    });
    feedUrl = server.url;
    try {
      const source = createLoreSource({ ...base(server.url), retries: 1, now: () => clock });
      const checkpoint = JSON.stringify({
        v: 1,
        etag: null,
        lastModified: null,
        readAt,
        seen: [[seenKey("older@example.org", Buffer.alloc(0)), readAt]],
      });
      const first = await readAll(source, checkpoint);
      expect(first.mails.map((m) => messageId(m.mail.raw))).toEqual([messageId(listed.raw)]);
      expect(first.errors.map((e) => (e as LoreError).code)).toEqual(["unavailable"]);
      expect(first.errors[0]?.message).toMatch(/HTTP 503 after 2 attempts/);
      const owed = JSON.parse(first.mails.at(-1)!.checkpoint) as Record<string, unknown>;
      expect(owed).toMatchObject({ etag: null, readAt, catchUp: true });

      // The feed lists nothing unseen now; the owed search is asked all the same.
      const second = await readAll(source, first.mails.at(-1)!.checkpoint);
      expect(second.errors).toEqual([]);
      expect(second.mails.map((m) => messageId(m.mail.raw))).toEqual([messageId(away.raw)]);
      const done = JSON.parse(second.mails.at(-1)!.checkpoint) as Record<string, unknown>;
      expect(done).toMatchObject({ etag: '"v2"', readAt: clock });
      expect(done).not.toHaveProperty("catchUp");
      const posts = server.requests.filter((r) => r.path === search);
      expect(posts.length).toBe(3);
      expect(posts.every((r) => r.headers["user-agent"]?.startsWith("hypwatch/0.1.0"))).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("keeps the seen ids bounded by the window and the count", async () => {
    const id = messageId(thread[0]!.raw);
    let feedUrl = "";
    const server = await fakeLore({
      "/kvmarm/new.atom": (_req, res) => res.end(atom(feedUrl, [id])),
      [`/kvmarm/${id}/t.mbox.gz`]: (_req, res) => res.end(mboxGz(thread.slice(0, 5))),
    });
    feedUrl = server.url;
    try {
      let clock = 1_000_000;
      const source = createLoreSource({
        ...base(server.url),
        maxSeen: 3,
        seenWindowMs: 1000,
        now: () => (clock += 100),
      });
      const { mails } = await readAll(source, null);
      expect(mails.length).toBe(5);
      const seen = (JSON.parse(mails.at(-1)!.checkpoint) as { seen: unknown[] }).seen;
      expect(seen.length).toBe(3);
      clock += 5000;
      const later = await readAll(source, mails.at(-1)!.checkpoint);
      // Out of the window, the ids are forgotten: what the feed lists is read again.
      expect(later.mails.length).toBe(5);
    } finally {
      await server.close();
    }
  });

  it("waits the poll interval with jitter, longer when a Retry-After asked", async () => {
    const waits: number[] = [];
    const server = await fakeLore({
      "/kvmarm/new.atom": (_req, res) => res.writeHead(429, { "retry-after": "3600" }).end(),
    });
    try {
      const source = createLoreSource({
        ...base(server.url),
        random: () => 1,
        now: () => 0,
        sleep: async (ms) => void waits.push(ms),
      });
      await source.waitForNew();
      await expect(readAll(source, null)).rejects.toThrow(/Retry-After 3600 s/);
      await source.waitForNew();
      expect(waits).toEqual([72_000, 3_600_000]);
      // Without an injected sleep, an abort ends the wait at once.
      const real = createLoreSource({ ...base(server.url), sleep: undefined });
      const controller = new AbortController();
      const waiting = real.waitForNew(controller.signal);
      controller.abort();
      await waiting;
    } finally {
      await server.close();
    }
  });

  it("gives up after its retries with an upstream error without credentials", async () => {
    const server = await fakeLore({
      "/kvmarm/new.atom": (_req, res) => res.writeHead(503).end(),
    });
    try {
      const url = server.url.replace("http://", "http://user:s3cret@");
      const source = createLoreSource({ ...base(url), retries: 2 });
      const error = await readAll(source, null).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LoreError);
      expect((error as LoreError).kind).toBe("upstream");
      expect((error as LoreError).message).toMatch(/HTTP 503 after 3 attempts/);
      expect((error as LoreError).message).not.toContain("s3cret");
      expect(server.requests.length).toBe(3);
      expect(server.requests[0]?.headers.authorization).toMatch(/^Basic /);
    } finally {
      await server.close();
    }
  });
});
