import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { freePort } from "./free-port.js";

/**
 * A throw-away Dovecot (Debian's dovecot-imapd) of a test's own: its config, state, logs and
 * Maildir in a temp dir, listening on 127.0.0.1 only, plaintext login without TLS.
 */
export interface PrivateDovecot {
  host: string;
  port: number;
  user: string;
  password: string;
  /** `doveadm kick`: the server drops every connection of the test user. */
  kick(): Promise<void>;
  /** The server's own log (logins, disconnects). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Debian puts the daemons in /usr/sbin, which a user's PATH may not hold. */
const sbin = (tool: string): string =>
  existsSync(`/usr/sbin/${tool}`) ? `/usr/sbin/${tool}` : tool;

/** Resolves once the server sends its greeting. */
function greeted(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("data", (chunk: Buffer) => {
      socket.destroy();
      resolve(chunk.toString().startsWith("* OK"));
    });
    socket.once("error", () => resolve(false));
  });
}

export async function startPrivateDovecot(password: string): Promise<PrivateDovecot> {
  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-dovecot-"));
  // The login and internal users must reach base_dir below it.
  await chmod(dir, 0o755);
  const port = await freePort();
  const user = "kvmarm-reader";
  const mailHome = path.join(dir, "home");
  await mkdir(mailHome);
  const root = process.getuid?.() === 0;
  // Dovecot refuses mail access as uid 0: as root, mail is kept as nobody, and Dovecot's own
  // processes run as the users the package created; otherwise all of it runs as ourselves.
  const mailUid = root ? 65534 : (process.getuid?.() ?? 1000);
  const mailGid = root ? 65534 : (process.getgid?.() ?? 1000);
  if (root) await chown(mailHome, mailUid, mailGid);
  const me = userInfo().username;
  const passwd = path.join(dir, "passwd");
  // Readable by Dovecot's auth process (its internal user); a test password in a temp dir.
  await writeFile(passwd, `${user}:{PLAIN}${password}:${mailUid}:${mailGid}::${mailHome}\n`, {
    mode: 0o644,
  });
  const conf = path.join(dir, "dovecot.conf");
  await writeFile(
    conf,
    [
      `base_dir = ${path.join(dir, "run")}`,
      `state_dir = ${path.join(dir, "state")}`,
      `log_path = ${path.join(dir, "dovecot.log")}`,
      "protocols = imap",
      "listen = 127.0.0.1",
      "ssl = no",
      "disable_plaintext_auth = no",
      "auth_mechanisms = plain",
      // A wrong password is refused at once, not after the default 2 s.
      "auth_failure_delay = 0",
      `default_internal_user = ${root ? "dovecot" : me}`,
      `default_login_user = ${root ? "dovenull" : me}`,
      // Not root, Dovecot cannot give its sockets to the package's `dovecot` group.
      ...(root ? [] : [`default_internal_group = ${(await execa("id", ["-gn"])).stdout.trim()}`]),
      "first_valid_uid = 1",
      `mail_location = maildir:${path.join(mailHome, "Maildir")}`,
      `passdb {\n  driver = passwd-file\n  args = ${passwd}\n}`,
      `userdb {\n  driver = passwd-file\n  args = ${passwd}\n}`,
      "service imap-login {",
      `  inet_listener imap {\n    address = 127.0.0.1\n    port = ${port}\n  }`,
      "  chroot =",
      "}",
      // Chrooting needs root; doveadm kick goes through anvil.
      "service anvil {\n  chroot =\n}",
      "",
    ].join("\n"),
  );

  const proc: ChildProcess = spawn(sbin("dovecot"), ["-c", conf, "-F"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  proc.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 10_000;
  while (!(await greeted(port))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`dovecot on ${port} did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }

  return {
    host: "127.0.0.1",
    port,
    user,
    password,
    async kick() {
      await execa(sbin("doveadm"), ["-c", conf, "kick", user]);
    },
    log: () => readFile(path.join(dir, "dovecot.log"), "utf8").catch(() => ""),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = once(proc, "exit");
        proc.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
