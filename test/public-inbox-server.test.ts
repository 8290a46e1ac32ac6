import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { mailMessageId } from "../src/intake/live/common.js";
import { readPublicInbox } from "../src/intake/publicInbox.js";
import { corpusPath } from "./corpus.js";
import { startPublicInbox, type PublicInboxPeer } from "./public-inbox-server.js";

describe("the test peer's stream delivery (real public-inbox, real kvmarm mail)", () => {
  let peer: PublicInboxPeer | null = null;
  afterAll(() => peer?.stop());

  it("makes each message visible as public-inbox-mda does: in new.atom and found by its search", async () => {
    peer = await startPublicInbox("kvmarm", { delivery: "stream" });
    const since = Math.floor(Date.now() / 1000) - 5;
    const ids: string[] = [];
    for await (const mail of readPublicInbox(corpusPath("kvmarm-0.git"))) {
      await peer.deliver(mail.raw, { received: new Date() });
      ids.push(mailMessageId(mail.raw) ?? "");
      if (ids.length === 30) break;
    }
    // Committed once no message has come for a moment.
    await new Promise((r) => setTimeout(r, 1000));
    const feed = await (await fetch(`${peer.inboxUrl}/new.atom`)).text();
    expect(feed.match(/<entry>/g)).toHaveLength(25);
    const found = await fetch(`${peer.inboxUrl}/?q=rt:${since}..&x=m`, { method: "POST" });
    expect(found.status).toBe(200);
    const mbox = gunzipSync(Buffer.from(await found.arrayBuffer())).toString("latin1");
    const listed = [...mbox.matchAll(/^Message-I[Dd]: <([^>]+)>/gm)].map((m) => m[1]);
    expect(new Set(listed)).toEqual(new Set(ids));
  });
});
