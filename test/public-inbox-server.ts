import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { run } from "../src/io/exec.js";
import { freePort } from "./free-port.js";

/**
 * A real public-inbox (Debian's `public-inbox`: the server lore.kernel.org runs) of a test's
 * own: a v2 inbox in a temp dir with its own HOME and PI_CONFIG, mail delivered with
 * `public-inbox-mda`, served by `public-inbox-httpd` on a free loopback port. Debian's
 * package brings Xapian (libsearch-xapian-perl), so the inbox is indexed `full` and
 * searchable, as lore's are, unless `indexLevel` says otherwise.
 */
export interface PublicInboxPeer {
  /** `http://127.0.0.1:<port>/<name>` */
  inboxUrl: string;
  /**
   * Delivers one message. With `received`, a `Received:` header of that time goes on top
   * first, as the MTA in front of lore adds one on arrival: public-inbox takes the topmost
   * `Received:` as the message's received time (what its search calls `rt:`).
   */
  deliver(raw: Buffer, opts?: { received?: Date }): Promise<void>;
  stop(): Promise<void>;
}

export interface PublicInboxOptions {
  /** `public-inbox-init -L`: `basic` indexes no search (no Xapian), as some inboxes are. */
  indexLevel?: "basic" | "medium" | "full";
  /**
   * `mda` (the default): a `public-inbox-mda` process per message, as a mail server runs
   * it. `stream`: one process (test/public-inbox-deliver.pl) doing what public-inbox-mda
   * does for each message it is handed, without loading public-inbox again each time
   * (a second or two per message): for thousands of messages (`npm run replay`).
   */
  delivery?: "mda" | "stream";
}

/** `raw` with a `Received:` header of `at` on top, in its own line ending. */
export function withReceived(raw: Buffer, at: Date): Buffer {
  const nl = raw.indexOf(0x0a);
  const eol = nl > 0 && raw[nl - 1] === 0x0d ? "\r\n" : "\n";
  const date = at.toUTCString().replace(/GMT$/, "+0000");
  return Buffer.concat([
    Buffer.from(`Received: from lists.example.org by 127.0.0.1 with ESMTP; ${date}${eol}`),
    raw,
  ]);
}

export async function startPublicInbox(
  name = "kvmarm",
  opts: PublicInboxOptions = {},
): Promise<PublicInboxPeer> {
  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-lore-"));
  const home = path.join(dir, "home");
  await mkdir(home);
  const port = await freePort();
  const address = `${name}@example.org`;
  const inboxUrl = `http://127.0.0.1:${port}/${name}`;
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    PI_CONFIG: path.join(dir, "pi-config"),
  };
  const must = async (file: string, args: string[], extra = {}, input?: Buffer) => {
    const result = await run(file, args, { env: { ...env, ...extra }, input, timeoutMs: 30_000 });
    if (result.exitCode !== 0) throw new Error(`${result.command}: ${result.stderr}`);
  };
  const level = opts.indexLevel ? ["-L", opts.indexLevel] : [];
  await must("public-inbox-init", ["-V2", ...level, name, path.join(dir, name), inboxUrl, address]);
  await must("git", ["config", "-f", env.PI_CONFIG, "publicinboxmda.spamcheck", "none"]);
  // A mirror of a list keeps what the list carried, HTML mail included (lore does too); the
  // default filter refuses HTML.
  await must("git", [
    "config",
    "-f",
    env.PI_CONFIG,
    `publicinbox.${name}.filter`,
    "PublicInbox::Filter::Mirror",
  ]);

  const proc: ChildProcess = spawn("public-inbox-httpd", ["-l", `http://127.0.0.1:${port}`], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  proc.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const deadline = Date.now() + 10_000;
  while (!err.includes("worker[")) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`public-inbox-httpd on ${port} did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }

  const stream = opts.delivery === "stream" ? streamDelivery(env, address) : null;
  return {
    inboxUrl,
    // --no-precheck: we mirror a list, so the inbox address is not in To:/Cc:.
    deliver: (raw, delivery = {}) => {
      const mail = delivery.received ? withReceived(raw, delivery.received) : raw;
      if (stream) return stream.deliver(mail);
      return must("public-inbox-mda", ["--no-precheck"], { ORIGINAL_RECIPIENT: address }, mail);
    },
    async stop() {
      await stream?.stop();
      if (proc.exitCode === null && proc.signalCode === null) {
        // SIGTERM stops public-inbox-httpd and its workers at once (SIGQUIT would wait for
        // idle keep-alive connections).
        const exited = once(proc, "exit");
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** test/public-inbox-deliver.pl, handed one message at a time, each acknowledged. */
function streamDelivery(env: Record<string, string>, address: string) {
  const script = fileURLToPath(new URL("./public-inbox-deliver.pl", import.meta.url));
  const proc = spawn("perl", ["-w", script], {
    env: { ...env, ORIGINAL_RECIPIENT: address },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let err = "";
  proc.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const answers = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  let queue: Promise<unknown> = Promise.resolve();
  const deliverNow = async (raw: Buffer) => {
    proc.stdin!.write(`${raw.length}\n`);
    proc.stdin!.write(raw);
    const answer = await answers.next();
    if (answer.done) throw new Error(`public-inbox-deliver.pl exited: ${err}`);
    if (answer.value !== "ok") throw new Error(`public-inbox-deliver.pl: ${answer.value}`);
  };
  return {
    deliver(raw: Buffer): Promise<void> {
      const delivered = queue.then(() => deliverNow(raw));
      queue = delivered.catch(() => undefined);
      return delivered;
    },
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = once(proc, "exit");
      proc.stdin!.end();
      await exited;
    },
  };
}
