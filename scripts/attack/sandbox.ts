import { createServer, type AddressInfo, type Server } from "node:net";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  DEFAULT_SANDBOX_LIMITS,
  runSandboxed,
  type SandboxLimits,
  type SandboxResult,
} from "../../src/io/sandbox.js";
import type { AttackCase, AttackOutcome } from "./types.js";

/**
 * Attacks on the build sandbox itself, as a patched Makefile would make them: each runs a
 * shell script in the sandbox a build gets (a writable build directory, a read-only
 * worktree, a private /tmp) and judges from the host what it achieved.
 */

/** A host file every user may read: the sandbox must not see it all the same. */
const SECRET = `hypwatch-secret-${process.pid}-${Date.now()}`;

interface Scene {
  root: string;
  build: string;
  src: string;
  tmp: string;
  /** World-readable host files holding SECRET, outside what a build is given. */
  secrets: string[];
  /** A host TCP server on 127.0.0.1 the sandbox must not reach. */
  server: Server;
  port: number;
  connections: number;
}

let scene: Promise<Scene> | undefined;

/** hypwatch's environment holds secrets (the Redis URL, tokens): a canary stands for them. */
const CANARY = "HYPWATCH_ATTACK_CANARY";

async function setUp(): Promise<Scene> {
  process.env[CANARY] = SECRET;
  const root = await mkdtemp(path.join(os.tmpdir(), "hypwatch-attack-"));
  await chmod(root, 0o755);
  const [build, src, tmp] = ["build", "src", "tmp"].map((d) => path.join(root, d)) as [
    string,
    string,
    string,
  ];
  for (const d of [build, src, tmp]) await mkdir(d, { recursive: true, mode: 0o755 });
  await writeFile(path.join(src, "Makefile"), "all:\n\t@echo built\n");
  const secrets = [path.join(root, "secret"), path.join(os.tmpdir(), `${SECRET}.txt`)];
  for (const f of secrets) await writeFile(f, `${SECRET}\n`, { mode: 0o644 });
  // The worktree holds what a patch can put there: a symlink to a host file.
  await symlink(secrets[0] as string, path.join(src, "evil-link"));
  const state = { connections: 0 };
  const server = createServer((s) => {
    state.connections++;
    s.end(`${SECRET}\n`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    root,
    build,
    src,
    tmp,
    secrets,
    server,
    port,
    get connections() {
      return state.connections;
    },
  };
}

/** The shared scene, made once; `tearDownSandboxScene` removes it. */
export function sandboxScene(): Promise<Scene> {
  scene ??= setUp();
  return scene;
}

export async function tearDownSandboxScene(): Promise<void> {
  if (!scene) return;
  const s = await scene;
  scene = undefined;
  s.server.close();
  await rm(s.root, { recursive: true, force: true });
  for (const f of s.secrets) await rm(f, { force: true });
  delete process.env[CANARY];
}

async function inSandbox(
  script: string,
  limits: Partial<SandboxLimits> = {},
): Promise<{ result: SandboxResult; log: string; scene: Scene }> {
  const s = await sandboxScene();
  const logPath = path.join(s.root, `log-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const result = await runSandboxed("/bin/sh", ["-c", script], {
    cwd: s.build,
    writable: [s.build],
    readable: [s.src],
    tmpDir: s.tmp,
    limits: { ...DEFAULT_SANDBOX_LIMITS, timeoutMs: 60_000, ...limits },
    env: { PORT: String(s.port), HOST_PID: String(process.pid), SRC: s.src },
    logPath,
  });
  const log = await readFile(logPath, "utf8");
  await rm(logPath, { force: true });
  await rm(s.build, { recursive: true, force: true });
  await rm(s.tmp, { recursive: true, force: true });
  await mkdir(s.build, { mode: 0o755 });
  await mkdir(s.tmp, { mode: 0o755 });
  return { result, log, scene: s };
}

/** Lines the script printed as `RESULT <what> <ok|blocked>`. */
function results(log: string): Map<string, string> {
  return new Map([...log.matchAll(/^RESULT (\S+) (\S+)$/gm)].map((m) => [m[1] ?? "", m[2] ?? ""]));
}

/** Run each `try` line; each must fail (print `blocked`), and the secret must not show. */
function mustAllFail(
  name: string,
  kind: AttackCase["kind"],
  tries: Record<string, string>,
  judge?: (scene: Scene) => Promise<string | null>,
): AttackCase {
  const script = Object.entries(tries)
    .map(
      ([k, cmd]) =>
        `if (${cmd}) >/dev/null 2>&1; then echo "RESULT ${k} ok"; else echo "RESULT ${k} blocked"; fi`,
    )
    .join("\n");
  return {
    name,
    kind,
    async run(): Promise<AttackOutcome> {
      const { log, scene: s } = await inSandbox(`${script}\ncat ${s_secretPaths()} 2>/dev/null`);
      const got = results(log);
      const through = Object.keys(tries).filter((k) => got.get(k) !== "blocked");
      const leaked = log.includes(SECRET);
      const extra = judge ? await judge(s) : null;
      const held = through.length === 0 && !leaked && extra === null;
      const outcome = held
        ? `all ${Object.keys(tries).length} tries refused (${Object.keys(tries).join(", ")})`
        : [
            through.length ? `got through: ${through.join(", ")}` : "",
            leaked ? "the secret was read" : "",
            extra ?? "",
          ]
            .filter(Boolean)
            .join("; ");
      return { held, outcome };
    },
  };
}

const s_secretPaths = () => `/tmp/${SECRET}.txt $SRC/evil-link /etc/shadow`;

const hostFileUnchanged = (file: string) => async (): Promise<string | null> =>
  (await stat(file).catch(() => null)) ? `${file} was written on the host` : null;

/** Run `script`; the sandbox must stop it for `bound`, naming it. */
function mustHitBound(
  name: string,
  script: string,
  bound: SandboxResult["bound"],
  limits: Partial<SandboxLimits>,
): AttackCase {
  return {
    name,
    kind: "exhaustion",
    async run(): Promise<AttackOutcome> {
      const started = Date.now();
      const { result, log } = await inSandbox(script, limits);
      const named = log.match(/\[hypwatch\] stopped: (.*)$/m)?.[1] ?? "no bound named";
      const s = ((Date.now() - started) / 1000).toFixed(1);
      return {
        held: result.bound === bound,
        outcome: `bound ${result.bound ?? "none"} after ${s} s: ${named}`,
      };
    },
  };
}

export const sandboxAttacks: AttackCase[] = [
  mustAllFail(
    "unmount or remount the sandbox's mounts, write the host",
    "escape",
    {
      "umount-tmp": "umount -l /tmp",
      "umount-usr": "umount -l /usr",
      "remount-usr-rw": "mount -o remount,rw /usr && touch /usr/hypwatch-attack",
      "mount-tmpfs": "mount -t tmpfs none /usr",
      "write-usr": "touch /usr/hypwatch-attack",
      "write-worktree": "touch $SRC/planted",
    },
    hostFileUnchanged("/usr/hypwatch-attack"),
  ),
  mustAllFail("regain capabilities in a new user namespace", "escape", {
    "unshare-user": "unshare -Ur true",
    "unshare-user-mount": "unshare -Urm mount -t tmpfs none /usr",
    "python-unshare": `python3 -c 'import os; os.unshare(os.CLONE_NEWUSER)'`,
    "capsh-caps": "grep -q '^CapEff:[[:space:]]*0*[1-9a-f]' /proc/self/status",
  }),
  mustAllFail("reach the host's network, directly or through /proc", "escape", {
    "tcp-host-server": "exec 3<>/dev/tcp/127.0.0.1/$PORT",
    "tcp-redis": "exec 3<>/dev/tcp/127.0.0.1/6379",
    "nsenter-pid1-net": "nsenter --net=/proc/1/ns/net true",
    "nsenter-any-net":
      "for p in /proc/[0-9]*; do nsenter --net=$p/ns/net sh -c 'exec 3<>/dev/tcp/127.0.0.1/'$PORT && exit 0; done; exit 1",
    "host-pid-visible": "test -e /proc/$HOST_PID/environ",
  }),
  mustAllFail("signal or trace a host process", "escape", {
    "kill-hypwatch": "kill -0 $HOST_PID",
    "ptrace-hypwatch": `python3 -c 'import ctypes,os,sys; sys.exit(0 if ctypes.CDLL(None).ptrace(16, int(os.environ["HOST_PID"]), 0, 0) == 0 else 1)'`,
    "see-host-processes": "test $(ls -d /proc/[0-9]* | wc -l) -gt 20",
  }),
  mustAllFail("raise privilege through setuid programs", "escape", {
    "su-root": "su root -c true </dev/null",
    "setuid-mount": "/usr/bin/mount --bind /tmp /usr",
    "new-setuid-copy":
      "cp /bin/sh /tmp/sh && chmod u+s /tmp/sh && /tmp/sh -c 'test $(id -u) -eq 0'",
  }),
  mustAllFail("write memory-backed filesystems the disk bounds do not see", "exhaustion", {
    "sandbox-root": "touch /hypwatch-attack",
    "dev-shm": "dd if=/dev/zero of=/dev/shm/fill bs=1M count=1",
    dev: "touch /dev/hypwatch-attack",
  }),
  mustAllFail("use devices and kernel interfaces", "escape", {
    mknod: "mknod /tmp/disk b 8 0",
    "raw-disk": "test -e /dev/vda || test -e /dev/sda",
    kmsg: "head -c1 /dev/kmsg | grep -q .",
    "sysrq-trigger": "echo h > /proc/sysrq-trigger",
    sysctl: "echo 1 > /proc/sys/kernel/sysrq",
  }),
  mustAllFail("read host files: secrets, other checks, the environment", "read", {
    "world-readable-host-file": `cat /tmp/${SECRET}.txt`,
    "symlink-in-worktree": "cat $SRC/evil-link",
    shadow: "cat /etc/shadow",
    passwd: "cat /etc/passwd",
    "root-home": "ls /root",
    "other-checks-cache": "ls /var/cache/hypwatch",
    "host-environment": `grep -qa ${CANARY} /proc/[0-9]*/environ`,
  }),
  mustHitBound("fork bomb", "f(){ f | f & }; f; sleep 20", "processes", { maxProcesses: 128 }),
  mustHitBound(
    "memory of many processes together",
    `for i in 1 2 3 4 5 6; do python3 -c 'b = bytearray(400 * 1024 ** 2); import time; time.sleep(20)' & done; wait`,
    "memory",
    { memoryBytes: 1024 ** 3 },
  ),
  mustHitBound("one huge file", "dd if=/dev/zero of=big bs=1M count=600", "file-size", {
    maxFileBytes: 256 * 1024 ** 2,
  }),
  mustHitBound(
    "fill the disk with many files under the file-size bound",
    "i=0; while [ $i -lt 40 ]; do dd if=/dev/zero of=f$i bs=1M count=100 2>/dev/null; i=$((i+1)); done; sleep 5",
    "disk-bytes",
    { diskBytes: 1024 ** 3 },
  ),
  mustHitBound(
    "fill /tmp instead of the build directory",
    "i=0; while [ $i -lt 40 ]; do dd if=/dev/zero of=/tmp/f$i bs=1M count=100 2>/dev/null; i=$((i+1)); done; sleep 5",
    "disk-bytes",
    { diskBytes: 1024 ** 3 },
  ),
  mustHitBound(
    "millions of empty files",
    `python3 -c 'import os
for i in range(10**7): open(f"e{i}", "w").close()'`,
    "disk-files",
    { diskFiles: 20_000 },
  ),
  mustHitBound("run forever", "while :; do :; done", "time", { timeoutMs: 3000 }),
  {
    name: "flood the log",
    kind: "exhaustion",
    async run() {
      const { log } = await inSandbox("yes hypwatch-log-flood | head -c 100000000");
      const cut = /log cut at/.test(log);
      return {
        held: cut && log.length < 40 * 1024 ** 2,
        outcome: `log kept ${(log.length / 1024 ** 2).toFixed(1)} MiB of 95 MiB${cut ? ", cut and marked" : ""}`,
      };
    },
  },
];
