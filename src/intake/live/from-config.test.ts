import { copyFile, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../../test/corpus.js";
import { messageId, readAll } from "../../../test/live-source.js";
import { ConfigError, configSchema, type Config } from "../../config.js";
import { epochsSourceOptions } from "./epochs.js";
import { createListSources } from "./from-config.js";
import { loreSourceOptions } from "./lore.js";

let tmp: string;
let maildir: string;
let delivered: number;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "hypwatch-from-config-"));
  // The Shadow Call Stack v7 thread, delivered into a Maildir's new/.
  maildir = path.join(tmp, "kvmarm-maildir");
  for (const sub of ["cur", "new", "tmp"])
    await mkdir(path.join(maildir, sub), { recursive: true });
  const thread = corpusPath("threads", "scs-v7");
  const names = (await readdir(thread)).filter((name) => name.endsWith(".eml"));
  delivered = names.length;
  for (const [i, name] of names.entries()) {
    await copyFile(
      path.join(thread, name),
      path.join(maildir, "new", `${1700000000 + i}.${i}.host`),
    );
  }
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function kvmarm(sources: unknown[]): Config {
  return configSchema.parse({ lists: [{ name: "kvmarm", sources }] });
}

describe("a configured list's live sources", () => {
  it("are built in the order of the list, each with a distinct id of its own settings", async () => {
    const config = kvmarm([
      { type: "lore", url: "https://lore.kernel.org/kvmarm" },
      { type: "lore", url: "https://bot:t0ken@mirror.example.org/kvmarm/" },
      { type: "epochs", url: "https://lore.kernel.org/kvmarm" },
      { type: "imap", host: "imap.example.org", user: "reader", passwordEnv: "KVMARM_PW" },
      { type: "imap", host: "imap.example.net", user: "reader" },
      { type: "maildir", path: maildir },
      { type: "mbox", path: path.join(tmp, "kvmarm.mbox") },
    ]);
    const sources = await createListSources(config.lists[0]!, config, {
      version: "0.1.0",
      env: { KVMARM_PW: "pw-1", HYPWATCH_IMAP_PASSWORD: "pw-2" },
      cacheDir: path.join(tmp, "cache"),
    });
    expect(sources.map((s) => s.id)).toEqual([
      "lore:https://lore.kernel.org/kvmarm",
      "lore:https://mirror.example.org/kvmarm",
      "epochs:https://lore.kernel.org/kvmarm",
      "imap:reader@imap.example.org:993/INBOX",
      "imap:reader@imap.example.net:993/INBOX",
      `maildir:${maildir}`,
      `mbox:${path.join(tmp, "kvmarm.mbox")}`,
    ]);
    await Promise.all(sources.map((s) => s.close()));
  });

  it("read the mail of their source: a Maildir's thread, resumed from its checkpoint", async () => {
    const config = kvmarm([{ type: "maildir", path: maildir }]);
    const [source] = await createListSources(config.lists[0]!, config, { version: "0.1.0" });
    const first = await readAll(source!, null);
    expect(first.errors).toEqual([]);
    expect(first.mails).toHaveLength(delivered);
    expect(first.mails.map((m) => messageId(m.mail.raw))).toContain(
      "20200128184934.77625-4-samitolvanen@google.com",
    );
    const again = await readAll(source!, first.mails.at(-1)!.checkpoint);
    expect(again.mails).toEqual([]);
    await source!.close();
  });

  it("refuse an IMAP source whose password variable is not set, naming the list and the variable", async () => {
    const config = kvmarm([
      { type: "lore", url: "https://lore.kernel.org/kvmarm" },
      { type: "imap", host: "imap.example.org", user: "reader", passwordEnv: "KVMARM_PW" },
    ]);
    const created = createListSources(config.lists[0]!, config, { version: "0.1.0", env: {} });
    await expect(created).rejects.toThrow(ConfigError);
    await expect(created).rejects.toThrow(
      "list kvmarm: sources.1: KVMARM_PW is not set (the password of reader@imap.example.org)",
    );
  });

  it("refuse an epochs source without a cache directory for its mirrors", async () => {
    const config = kvmarm([{ type: "epochs", url: "https://lore.kernel.org/kvmarm" }]);
    await expect(
      createListSources(config.lists[0]!, config, { version: "0.1.0", env: {} }),
    ).rejects.toThrow("list kvmarm: sources.0: no cache directory to mirror the epochs in");
  });

  it("get the lore and epochs options of a list source's inbox, with the top-level contact", () => {
    const config = configSchema.parse({
      lore: { pollIntervalSeconds: 240, contact: "mailto:admin@example.org" },
    });
    expect(
      loreSourceOptions(config, "0.1.0", {
        url: "https://lore.kernel.org/kvmarm",
        pollIntervalSeconds: 60,
      }),
    ).toMatchObject({
      inboxUrl: "https://lore.kernel.org/kvmarm",
      pollIntervalMs: 60_000,
      contact: "mailto:admin@example.org",
    });
    expect(loreSourceOptions(config, "0.1.0")).toMatchObject({
      inboxUrl: "https://lore.kernel.org/all",
      pollIntervalMs: 240_000,
    });
    expect(
      epochsSourceOptions(config, "/cache", {
        url: "https://lore.kernel.org/kvmarm",
        pollIntervalSeconds: 900,
      }),
    ).toMatchObject({ mirrorDir: "/cache/epochs/kvmarm", pollIntervalMs: 900_000 });
  });
});
