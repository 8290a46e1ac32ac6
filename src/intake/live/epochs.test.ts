import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusPath } from "../../../test/corpus.js";
import { startPublicInbox } from "../../../test/public-inbox-server.js";
import { run } from "../../io/exec.js";
import { readMbox } from "../mbox.js";
import type { RawMail } from "../types.js";
import { configSecrets, readConfig } from "../../config.js";
import {
  createEpochsSource,
  epochsSourceOptions,
  EpochsError,
  type EpochsSourceOptions,
} from "./epochs.js";
import { shortHash } from "./common.js";
import type { LiveMail, LiveSource } from "./types.js";
import { messageId, readAll } from "../../../test/live-source.js";

const THREAD = corpusPath("threads", "scs-v7", "scs-v7-thread.mbox");

const ids = (mails: RawMail[]): string[] => mails.map((m) => messageId(m.raw));

/** A real public-inbox v2 inbox (Debian's `public-inbox`), written by public-inbox-mda. */
interface Inbox {
  dir: string;
  deliver(mails: RawMail[]): Promise<void>;
  purge(mail: RawMail): Promise<void>;
}

async function createInbox(root: string, name: string): Promise<Inbox> {
  const dir = path.join(root, name);
  const home = path.join(root, `${name}-home`);
  await mkdir(home);
  const address = `${name}@example.org`;
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    PI_CONFIG: path.join(root, `${name}-pi-config`),
  };
  const must = async (file: string, args: string[], extra = {}, input?: Buffer) => {
    const result = await run(file, args, { env: { ...env, ...extra }, input, timeoutMs: 30_000 });
    if (result.exitCode !== 0) throw new Error(`${result.command}: ${result.stderr}`);
  };
  await must("public-inbox-init", ["-V2", name, dir, `http://127.0.0.1/${name}`, address]);
  await must("git", ["config", "-f", env.PI_CONFIG, "publicinboxmda.spamcheck", "none"]);
  return {
    dir,
    async deliver(mails) {
      // --no-precheck: a mirrored list's mail is not addressed to the inbox.
      for (const mail of mails) {
        await must(
          "public-inbox-mda",
          ["--no-precheck"],
          { ORIGINAL_RECIPIENT: address },
          mail.raw,
        );
      }
    },
    purge: (mail) => must("public-inbox-purge", [dir], {}, mail.raw),
  };
}

let thread: RawMail[];
let root: string;
beforeAll(async () => {
  thread = [];
  for await (const mail of readMbox(THREAD)) thread.push(mail);
  expect(thread.length).toBe(30);
  root = await mkdtemp(path.join(tmpdir(), "hypwatch-epochs-"));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const options = (remote: string, mirror: string): EpochsSourceOptions => ({
  remote,
  mirrorDir: path.join(root, mirror),
  pollIntervalMs: 60_000,
  // Few, so a rewrite is resumed near the checkpoint, not from the epoch's first commit.
  maxSeen: 3,
});

describe("epochs source on a real public-inbox v2 inbox", () => {
  let inbox: Inbox;
  let source: LiveSource;
  let checkpoint: string;
  beforeAll(async () => {
    inbox = await createInbox(root, "kvmarm");
    await inbox.deliver(thread.slice(0, 10));
    source = createEpochsSource(options(inbox.dir, "mirror"));
  });

  it("first read mirrors epoch 0 and yields every message once, in commit order", async () => {
    expect(source.id).toBe("epochs:kvmarm");
    const { mails, errors } = await readAll(source, null);
    expect(errors).toEqual([]);
    expect(ids(mails.map((m) => m.mail))).toEqual(ids(thread.slice(0, 10)));
    for (const m of mails) {
      expect(m.mail.origin).toMatch(/^0\.git@[0-9a-f]{40}$/);
      const state = JSON.parse(m.checkpoint) as { epoch: number; commit: string };
      expect(state).toMatchObject({ v: 1, epoch: 0, commit: m.mail.commit });
      expect((state as unknown as { seen: string[] }).seen.length).toBeLessThanOrEqual(3);
    }
    // Each checkpoint, read only once the whole read is done, remembers the Message-IDs up
    // to its own message, not those yielded after it.
    const keys = ids(mails.map((m) => m.mail)).map(shortHash);
    mails.forEach((m, i) => {
      const { seen } = JSON.parse(m.checkpoint) as { seen: string[] };
      expect(seen).toEqual(keys.slice(Math.max(0, i - 2), i + 1));
    });
    checkpoint = mails.at(-1)?.checkpoint ?? "";
    expect((await readAll(source, checkpoint)).mails).toEqual([]);
  });

  it("from the checkpoint, yields only the messages delivered since", async () => {
    await inbox.deliver(thread.slice(10, 15));
    const { mails, errors } = await readAll(source, checkpoint);
    expect(errors).toEqual([]);
    expect(ids(mails.map((m) => m.mail))).toEqual(ids(thread.slice(10, 15)));
    checkpoint = mails.at(-1)?.checkpoint ?? "";
  });

  it("after a purge rewrote the epoch, yields no message twice and loses none after the checkpoint", async () => {
    await inbox.deliver(thread.slice(15, 20));
    // One message before the checkpoint and one after it are purged: history is rewritten
    // from the first of them on.
    const before = thread[5];
    const after = thread[17];
    if (!before || !after) throw new Error("short thread");
    await inbox.purge(before);
    await inbox.purge(after);
    const expected = ids([...thread.slice(15, 17), ...thread.slice(18, 20)]);

    // The mirror still has the old commits: resumed after the last commit both histories share.
    const { mails, errors } = await readAll(source, checkpoint);
    expect(ids(mails.map((m) => m.mail))).toEqual(expected);
    expect(errors.map((e) => (e as EpochsError).code)).toEqual(["epoch-rewritten"]);
    expect(errors[0]?.message).toContain("no longer in the history");

    // A new mirror has never seen the old commits: resumed by the checkpoint's time and seen.
    const fresh = createEpochsSource(options(inbox.dir, "mirror-fresh"));
    const again = await readAll(fresh, checkpoint);
    expect(ids(again.mails.map((m) => m.mail))).toEqual(expected);
    expect(again.errors.map((e) => (e as EpochsError).code)).toEqual(["epoch-rewritten"]);

    checkpoint = mails.at(-1)?.checkpoint ?? "";
    expect(await readAll(source, checkpoint)).toEqual({ mails: [], errors: [] });
  });

  it("picks up a new epoch (1.git) when it appears", async () => {
    // A second inbox's epoch 0 becomes this inbox's epoch 1, as public-inbox rotates epochs.
    const next = await createInbox(root, "next");
    await next.deliver(thread.slice(20, 25));
    await cp(path.join(next.dir, "git", "0.git"), path.join(inbox.dir, "git", "1.git"), {
      recursive: true,
    });
    const { mails, errors } = await readAll(source, checkpoint);
    expect(errors).toEqual([]);
    expect(ids(mails.map((m) => m.mail))).toEqual(ids(thread.slice(20, 25)));
    for (const m of mails) expect(m.mail.origin).toMatch(/^1\.git@/);
    const last = JSON.parse(mails.at(-1)?.checkpoint ?? "{}") as { epoch: number };
    expect(last.epoch).toBe(1);

    // Both epochs from the start: every message still there, once.
    const all = await readAll(source, null);
    const yielded = ids(all.mails.map((m) => m.mail));
    expect(new Set(yielded).size).toBe(yielded.length);
    expect(yielded.length).toBe(25 - 2);
  });
});

describe("epochs source abort", () => {
  it("a read aborted after a message stops there", async () => {
    const inbox = await createInbox(root, "abort");
    await inbox.deliver(thread.slice(0, 3));
    const source = createEpochsSource(options(inbox.dir, "m-abort"));
    const controller = new AbortController();
    const got: LiveMail[] = [];
    const reading = (async () => {
      for await (const mail of source.read(null, { signal: controller.signal })) {
        got.push(mail);
        controller.abort(new Error("stop"));
      }
    })();
    await expect(reading).rejects.toThrow("stop");
    expect(got.length).toBe(1);
  });
});

describe("epochs source over HTTP from a real public-inbox-httpd", () => {
  it("probes the epochs with git ls-remote, mirrors epoch 0 and yields its messages", async () => {
    const peer = await startPublicInbox("kvmarm");
    try {
      await peer.deliver(thread[0]?.raw ?? Buffer.alloc(0));
      await peer.deliver(thread[1]?.raw ?? Buffer.alloc(0));
      const source = createEpochsSource(options(peer.inboxUrl, "m-http"));
      const first = await readAll(source, null);
      expect(first.errors).toEqual([]);
      expect(ids(first.mails.map((m) => m.mail))).toEqual(ids(thread.slice(0, 2)));
      expect(first.mails[0]?.mail.origin).toMatch(/^0\.git@/);

      await peer.deliver(thread[2]?.raw ?? Buffer.alloc(0));
      const next = await readAll(source, first.mails.at(-1)?.checkpoint ?? null);
      expect(next.errors).toEqual([]);
      expect(ids(next.mails.map((m) => m.mail))).toEqual(ids(thread.slice(2, 3)));
    } finally {
      await peer.stop();
    }
  });
});

describe("epochs source errors", () => {
  it("a directory without epochs is a named error", async () => {
    const source = createEpochsSource(options(path.join(root, "nowhere"), "m-none"));
    await expect(readAll(source, null)).rejects.toMatchObject({
      name: "EpochsError",
      code: "no-epochs",
    });
  });

  it("an unreachable remote is a named error without its credentials", async () => {
    const source = createEpochsSource(options("http://hyp:s3cr3t-pw@127.0.0.1:1/kvmarm", "m-url"));
    const error = await readAll(source, null).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EpochsError);
    expect((error as EpochsError).code).toBe("no-epochs");
    expect((error as Error).message).not.toContain("s3cr3t-pw");
    expect((error as EpochsError).source).not.toContain("s3cr3t-pw");
  });

  it("a broken epoch is named through onError and nothing is yielded", async () => {
    const broken = path.join(root, "broken", "0.git");
    await mkdir(path.join(broken, "objects"), { recursive: true });
    await writeFile(path.join(broken, "HEAD"), "not a ref\n");
    const source = createEpochsSource(options(path.dirname(broken), "m-broken"));
    const { mails, errors } = await readAll(source, null);
    expect(mails).toEqual([]);
    expect(errors.map((e) => (e as EpochsError).code)).toEqual(["fetch-failed"]);
  });

  it("an epoch whose fetch fails is named and its mirror read as it is", async () => {
    const inbox = await createInbox(root, "flaky");
    await inbox.deliver(thread.slice(0, 2));
    const source = createEpochsSource(options(inbox.dir, "m-flaky"));
    const first = await readAll(source, null);
    expect(first.mails.length).toBe(2);
    // The remote epoch breaks (HEAD no longer names a ref): the mirror still answers.
    await writeFile(path.join(inbox.dir, "git", "0.git", "HEAD"), "garbage\n");
    const again = await readAll(source, null);
    expect(again.errors.map((e) => (e as EpochsError).code)).toEqual(["fetch-failed"]);
    expect(ids(again.mails.map((m) => m.mail))).toEqual(ids(thread.slice(0, 2)));
  });

  it("a checkpoint of another source is a named error", async () => {
    const source = createEpochsSource(options(path.join(root, "kvmarm"), "m-bad"));
    await expect(readAll(source, '{"uidValidity":"1"}')).rejects.toMatchObject({
      code: "bad-checkpoint",
    });
  });
});

describe("epochs source polling", () => {
  it("waits the interval plus up to 20% of jitter, and resolves on abort", async () => {
    const waits: number[] = [];
    const source = createEpochsSource({
      ...options(root, "m-poll"),
      sleep: async (ms) => {
        waits.push(ms);
      },
      random: () => 0.5,
    });
    await source.waitForNew();
    expect(waits).toEqual([66_000]);

    const real = createEpochsSource(options(root, "m-poll"));
    const controller = new AbortController();
    const started = Date.now();
    const waiting = real.waitForNew(controller.signal);
    controller.abort();
    await waiting;
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe("epochs source configuration", () => {
  it("reads HYPWATCH_EPOCHS_URL and its poll interval; a token in the URL is a secret", () => {
    const config = readConfig({
      HYPWATCH_EPOCHS_URL: "https://tok3n@lore.example.org/kvmarm/",
      HYPWATCH_EPOCHS_POLL_INTERVAL: "60",
    });
    expect(epochsSourceOptions(config, "/cache")).toMatchObject({
      remote: "https://tok3n@lore.example.org/kvmarm/",
      mirrorDir: "/cache/epochs/kvmarm",
      pollIntervalMs: 60_000,
    });
    expect(configSecrets(config)).toContain("tok3n");
    expect(epochsSourceOptions(readConfig({}), "/cache")).toBeUndefined();
    expect(() => readConfig({ HYPWATCH_EPOCHS_POLL_INTERVAL: "5" })).toThrow();
  });
});
