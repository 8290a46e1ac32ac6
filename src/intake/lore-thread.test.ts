import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { startPublicInbox, type PublicInboxPeer } from "../../test/public-inbox-server.js";
import { run } from "../io/exec.js";
import { readMbox } from "./mbox.js";
import { threadLocation } from "./lore-thread.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const LORE = "https://lore.kernel.org/all";
const COVER = "20200128184934.77625-1-samitolvanen@google.com";

describe("threadLocation", () => {
  it("takes a Message-ID with or without angle brackets, from the configured inbox", () => {
    const url = `${LORE}/${COVER}/t.mbox.gz`;
    expect(threadLocation(`<${COVER}>`, LORE)).toEqual({ messageId: COVER, url });
    expect(threadLocation(COVER, `${LORE}/`)).toEqual({ messageId: COVER, url });
  });

  it("takes a lore URL's own inbox, but not the /r/ redirector's", () => {
    expect(threadLocation(`https://lore.kernel.org/kvmarm/${COVER}/T/#u`, LORE)?.url).toBe(
      `https://lore.kernel.org/kvmarm/${COVER}/t.mbox.gz`,
    );
    expect(threadLocation(`https://lore.kernel.org/r/${COVER}`, LORE)?.url).toBe(
      `${LORE}/${COVER}/t.mbox.gz`,
    );
  });

  it("escapes what a path segment cannot hold, and refuses what is no Message-ID", () => {
    expect(threadLocation("<a/b+c@x>", LORE)).toBeNull();
    expect(threadLocation("<a b@x>", LORE)).toBeNull();
    expect(threadLocation("a%2Fb@x", LORE)?.url).toBe(`${LORE}/a%252Fb@x/t.mbox.gz`);
    expect(threadLocation("https://lore.kernel.org/kvmarm/a%2Fb@x/", LORE)?.url).toBe(
      "https://lore.kernel.org/kvmarm/a%2Fb@x/t.mbox.gz",
    );
    expect(threadLocation("examples/gicv2-warn-v1.mbox", LORE)).toBeNull();
  });
});

describe("hypwatch scan <Message-ID | lore URL> against a real public-inbox-httpd", () => {
  let peer: PublicInboxPeer;
  beforeAll(async () => {
    peer = await startPublicInbox("kvmarm");
    for await (const mail of readMbox(corpusPath("threads", "scs-v7", "scs-v7-thread.mbox")))
      await peer.deliver(mail.raw);
  }, 120_000);
  afterAll(async () => peer?.stop());

  const scan = (arg: string) =>
    run(
      path.join(ROOT, "node_modules", ".bin", "tsx"),
      [path.join(ROOT, "src", "cli", "main.ts"), "scan", arg, "--json"],
      { cwd: ROOT, env: { HYPWATCH_LORE_URL: peer.inboxUrl }, timeoutMs: 60_000 },
    );

  it("fetches the thread of a Message-ID as t.mbox.gz and reads its series", async () => {
    const out = await scan(`<${COVER}>`);
    expect(out.exitCode).toBe(0);
    const doc = JSON.parse(out.stdout) as {
      summary: { messages: number; relevant: number };
      series: { version: number; total: number }[];
    };
    expect(doc.summary.messages).toBe(30);
    expect(doc.summary.relevant).toBe(1);
    expect(doc.series[0]).toMatchObject({ version: 7, total: 11 });
    expect(out.stderr).toContain(`fetching ${peer.inboxUrl}/${COVER}/t.mbox.gz`);
  });

  it("takes the inbox of a URL, and names a thread the inbox does not have", async () => {
    const fromUrl = await scan(`${peer.inboxUrl}/${COVER}/T/#u`);
    expect(JSON.parse(fromUrl.stdout)).toMatchObject({ summary: { messages: 30 } });
    const missing = await scan("<no-such-thread@example.org>");
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/<no-such-thread@example.org>: no such thread at http/);
  });
});
