import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../../test/corpus.js";
import { messageId, readAll } from "../../../test/live-source.js";
import { startPublicInbox, type PublicInboxPeer } from "../../../test/public-inbox-server.js";
import { httpGet } from "../../io/http.js";
import { DEFAULT_MAIL_LIMITS } from "../../mail/limits.js";
import { readPublicInbox } from "../publicInbox.js";
import type { RawMail } from "../types.js";
import { seenKey } from "./common.js";
import { createLoreSource, LoreError, parseLoreFeed, type LoreSourceOptions } from "./lore.js";
import type { LiveMail } from "./types.js";

/**
 * More mail than new.atom lists arrives between two reads (lore lists the newest 25): the
 * lore source asks the inbox's search for what was received since its last read, against a
 * real public-inbox-httpd holding real kvmarm mail.
 */

const options = (inboxUrl: string, get: typeof httpGet = httpGet): LoreSourceOptions => ({
  inboxUrl,
  version: "0.1.0",
  contact: "https://example.org/hypwatch",
  pollIntervalMs: 60_000,
  backoffMs: 1,
  sleep: async () => undefined,
  get,
});

/** httpGet, each request written down as `METHOD /path?query` (the inbox's own part). */
function recordingGet(): { requests: string[]; get: typeof httpGet } {
  const requests: string[] = [];
  return {
    requests,
    get: (url, opts) => {
      const { pathname, search } = new URL(url);
      requests.push(`${opts.method ?? "GET"} ${decodeURIComponent(pathname + search)}`);
      return httpGet(url, opts);
    },
  };
}

const ids = (mails: LiveMail[]): string[] => mails.map((m) => messageId(m.mail.raw));

/** The first messages of the real kvmarm archive (May 2019), in the order the list carried them. */
async function kvmarmMail(count: number): Promise<RawMail[]> {
  const mails: RawMail[] = [];
  for await (const mail of readPublicInbox(corpusPath("kvmarm-0.git"))) {
    mails.push(mail);
    if (mails.length === count) break;
  }
  return mails;
}

describe("lore source: more new mail than new.atom lists", () => {
  let peer: PublicInboxPeer;
  /** Delivered before the first read: five messages of four threads. */
  let before: RawMail[];
  /** Delivered after it: 40 messages of 12 threads (three patch series among them). */
  let after: RawMail[];
  let first: { mails: LiveMail[]; errors: Error[] };
  let checkpoint: string;

  beforeAll(async () => {
    const mails = await kvmarmMail(45);
    before = mails.slice(0, 5);
    after = mails.slice(5);
    peer = await startPublicInbox("kvmarm");
    // Each with the Received: lore's MTA stamps on arrival: public-inbox's received time.
    for (const mail of before) await peer.deliver(mail.raw, { received: new Date() });
    first = await readAll(createLoreSource(options(peer.inboxUrl)), null);
    checkpoint = first.mails.at(-1)?.checkpoint ?? "";
    for (const mail of after) await peer.deliver(mail.raw, { received: new Date() });
  });
  afterAll(async () => {
    await peer?.stop();
  });

  it("the first read yields what the feed lists; the feed then lists only later mail", async () => {
    expect(first.errors).toEqual([]);
    expect(ids(first.mails).sort()).toEqual(before.map((m) => messageId(m.raw)).sort());
    expect(JSON.parse(checkpoint)).toMatchObject({ v: 1, readAt: expect.any(Number) });
    const feed = await httpGet(`${peer.inboxUrl}/new.atom`, {
      timeoutMs: 30_000,
      maxBodyBytes: 1 << 20,
    });
    if (feed.outcome !== "response") throw new Error(`new.atom: ${feed.outcome}`);
    const listed = parseLoreFeed(feed.body.toString("utf8"))?.map((e) => e.messageId) ?? [];
    expect(listed.length).toBeLessThan(after.length);
    expect(listed.filter((id) => ids(first.mails).includes(id))).toEqual([]);
  });

  it("from that checkpoint, yields every later message once, oldest first, by one search", async () => {
    const { requests, get } = recordingGet();
    const source = createLoreSource(options(peer.inboxUrl, get));
    const { mails, errors } = await readAll(source, checkpoint);
    expect(errors).toEqual([]);
    expect(ids(mails)).toEqual(after.map((m) => messageId(m.raw)));
    const readAt = (JSON.parse(checkpoint) as { readAt: number }).readAt;
    const from = Math.floor((readAt - 15 * 60_000) / 1000);
    // Every message the feed lists came with the search: no thread is fetched.
    expect(requests).toEqual(["GET /kvmarm/new.atom", `POST /kvmarm/?q=rt:${from}..&x=m`]);
    // Only the last checkpoint carries the time of this read.
    expect(JSON.parse(mails.at(-2)!.checkpoint)).toMatchObject({ readAt });
    const last = mails.at(-1)!.checkpoint;
    expect((JSON.parse(last) as { readAt: number }).readAt).toBeGreaterThan(readAt);

    // Nothing new since: the feed alone.
    const idle = recordingGet();
    const again = await readAll(createLoreSource(options(peer.inboxUrl, idle.get)), last);
    expect(again).toEqual({ mails: [], errors: [] });
    expect(idle.requests).toEqual(["GET /kvmarm/new.atom"]);
  });

  it("a read stopped half-way resumes from its last checkpoint without loss or repeat", async () => {
    const source = createLoreSource(options(peer.inboxUrl));
    const firstTen: LiveMail[] = [];
    for await (const mail of source.read(checkpoint)) {
      firstTen.push(mail);
      if (firstTen.length === 10) break;
    }
    const rest = await readAll(source, firstTen.at(-1)!.checkpoint);
    expect(rest.errors).toEqual([]);
    expect([...ids(firstTen), ...ids(rest.mails)]).toEqual(after.map((m) => messageId(m.raw)));
  });

  it("a checkpoint written before the time of the read was kept catches up from its newest seen", async () => {
    const { readAt, ...older } = JSON.parse(checkpoint) as { readAt: number; seen: unknown[] };
    expect(readAt).toBeGreaterThan(0);
    const { mails, errors } = await readAll(
      createLoreSource(options(peer.inboxUrl)),
      JSON.stringify(older),
    );
    expect(errors).toEqual([]);
    expect(ids(mails)).toEqual(after.map((m) => messageId(m.raw)));
  });

  it("asks again in halves of the received time when an answer passes a size cap", async () => {
    for (const caps of [
      { maxThreadBytes: 30_000 },
      { limits: { ...DEFAULT_MAIL_LIMITS, maxDecompressedBytes: 60_000 } },
    ]) {
      const { requests, get } = recordingGet();
      const source = createLoreSource({ ...options(peer.inboxUrl, get), ...caps });
      const { mails, errors } = await readAll(source, checkpoint);
      expect(errors).toEqual([]);
      expect(ids(mails)).toEqual(after.map((m) => messageId(m.raw)));
      const searches = requests.filter((r) => r.startsWith("POST "));
      expect(searches.length).toBeGreaterThan(2);
      expect(searches.slice(1).every((r) => /rt:\d+\.\.(\d+)?&x=m$/.test(r))).toBe(true);
    }
  });
});

describe("lore source: an inbox without search", () => {
  let peer: PublicInboxPeer;
  let thread: RawMail[];
  beforeAll(async () => {
    // The ptrauth fix and its three replies (messages 17-20 of the archive), one thread.
    thread = (await kvmarmMail(21)).slice(17, 21);
    peer = await startPublicInbox("plain", { indexLevel: "basic" });
    for (const mail of thread) await peer.deliver(mail.raw, { received: new Date() });
  });
  afterAll(async () => {
    await peer?.stop();
  });

  it("reports once that mail may have been missed since the last read, and reads the feed", async () => {
    // The last read was an hour ago and saw none of what the feed lists now.
    const readAt = Date.now() - 3600_000;
    const checkpoint = JSON.stringify({
      v: 1,
      etag: null,
      lastModified: null,
      readAt,
      seen: [[seenKey("older@example.org", Buffer.alloc(0)), readAt]],
    });
    const { requests, get } = recordingGet();
    const { mails, errors } = await readAll(
      createLoreSource(options(peer.inboxUrl, get)),
      checkpoint,
    );
    expect(ids(mails).sort()).toEqual(thread.map((m) => messageId(m.raw)).sort());
    expect(errors.length).toBe(1);
    const error = errors[0] as LoreError;
    expect(error).toBeInstanceOf(LoreError);
    expect(error.code).toBe("no-search");
    const since = new Date(readAt).toISOString().replace(/\.\d+Z$/, "Z");
    expect(error.message).toContain(`${peer.inboxUrl}: the inbox has no search (HTTP 501)`);
    expect(error.message).toContain(`messages received between ${since} and `);
    expect(error.message).toContain("may have been missed");
    // 501 is not retried; the thread is then read as the feed lists it.
    expect(requests.filter((r) => r.startsWith("POST"))).toHaveLength(1);
    expect(requests[0]).toBe("GET /plain/new.atom");
    expect(requests.at(-1)).toMatch(/^GET \/plain\/.+\/t\.mbox\.gz$/);
  });
});
