import { createWriteStream } from "node:fs";
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  rmdir,
  stat,
  writeFile,
} from "node:fs/promises";
import os from "node:os";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { execa } from "execa";
import { run } from "./exec.js";
import { HypwatchError } from "../errors.js";

/**
 * Everything a build may use up. A build that reaches one is stopped and its result names
 * the bound (`SandboxResult.bound`).
 */
export interface SandboxLimits {
  /** Wall time; every process of the sandbox is killed when it runs over. */
  timeoutMs: number;
  /**
   * Memory of the whole sandbox, every process together (a cgroup where the host lets
   * hypwatch make one, see `sandboxHost`), and the address space of each process.
   */
  memoryBytes: number;
  /** Processes and threads alive at once. */
  maxProcesses: number;
  /** Largest single file (RLIMIT_FSIZE). */
  maxFileBytes: number;
  /** Bytes on disk under the writable directories and /tmp, together. */
  diskBytes: number;
  /** Files and directories under the writable directories and /tmp, together. */
  diskFiles: number;
  /**
   * The unprivileged host uid and gid builds run as when hypwatch runs as root (default
   * 65534, `nobody`); ignored otherwise, a build then runs as hypwatch's own uid.
   */
  runAs?: { uid: number; gid: number };
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  timeoutMs: 40 * 60_000,
  memoryBytes: 4 * 1024 ** 3,
  maxProcesses: 256,
  maxFileBytes: 1024 ** 3,
  diskBytes: 4 * 1024 ** 3,
  diskFiles: 200_000,
};

/** Limits and mounts of one sandboxed command. */
export interface SandboxOptions {
  /** Working directory inside the sandbox (paths are the same inside and outside). */
  cwd: string;
  /** Host directories bound read-write: the only ones the command can change. */
  writable: string[];
  /** Host directories bound read-only, besides the toolchain. */
  readable?: string[];
  /**
   * A host directory bound as /tmp (writable; counted in the disk bounds). It must be
   * private to this command: hypwatch empties nothing in it.
   */
  tmpDir: string;
  limits: SandboxLimits;
  /** Environment inside; nothing else of ours is passed in. */
  env?: Record<string, string>;
  /** stdout and stderr, interleaved, are written here (at most `MAX_LOG_BYTES`). */
  logPath: string;
}

/** The bound a sandboxed command ran into. */
export type SandboxBound =
  "time" | "memory" | "processes" | "file-size" | "disk-bytes" | "disk-files";

export interface SandboxResult {
  exitCode: number;
  /** Killed for running over `limits.timeoutMs` (also `bound: "time"`). */
  timedOut: boolean;
  /** The bound that stopped it, or that it ran into (a failed fork, an OOM kill). */
  bound: SandboxBound | null;
  durationMs: number;
  logPath: string;
}

/** Thrown when builds cannot be isolated on this host; no untrusted code is run then. */
export class SandboxUnavailableError extends HypwatchError {
  // A host setting (user namespaces, bubblewrap) that only an operator changes.
  readonly kind = "permanent";
  constructor(readonly reason: string) {
    super(`builds cannot be sandboxed here: ${reason}`);
  }
}

/**
 * How this host isolates a build. `dropTo` is the unprivileged host uid and gid a build
 * runs as when hypwatch runs as root (the user namespace then maps the sandbox's uid to
 * it, not to root); null when hypwatch itself is unprivileged. `cgroup` is where a build's
 * memory and process count are bounded as a whole; null when the host gives hypwatch no
 * cgroup to manage, and then only the per-process rlimits bound them.
 */
export interface SandboxHost {
  dropTo: { uid: number; gid: number } | null;
  cgroup: CgroupLayout | null;
  /** Top-level host paths that are symlinks (merged /usr: /bin -> usr/bin ...). */
  rootLinks: [string, string][];
  /** Top-level host directories bound read-only for the toolchain. */
  rootDirs: string[];
}

/** Where memory and pids cgroups are created: one cgroup v2 directory, or two v1 ones. */
export type CgroupLayout =
  { version: 2; parent: string } | { version: 1; memoryParent: string; pidsParent: string };

/** The uid and gid inside the sandbox: an ordinary user, never 0. */
export const SANDBOX_UID = 1000;

/** Bigger build logs are cut: a make loop printing forever must not fill the disk. */
export const MAX_LOG_BYTES = 32 * 1024 ** 2;

const DEFAULT_ENV: Record<string, string> = {
  PATH: "/usr/local/bin:/usr/bin:/bin",
  HOME: "/tmp",
  TMPDIR: "/tmp",
  LANG: "C.UTF-8",
  LC_ALL: "C",
  TERM: "dumb",
};

/** The toolchain: what a kernel build needs of the host, read-only. Nothing else is bound. */
const TOOLCHAIN_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
const TOOLCHAIN_FILES = ["/etc/alternatives", "/etc/ld.so.cache"];

/**
 * The command line for `file args` under `opts` on `host`:
 * - cgroup entry (as the parent, before anything untrusted runs), rlimits (prlimit);
 * - when root, a drop to the unprivileged host uid (setpriv: no groups, no capabilities
 *   in any set, no new privileges);
 * - bubblewrap: a new user namespace with an ordinary uid and no capabilities, nested user
 *   namespaces refused, new pid (with its own /proc), network (only a down loopback), ipc,
 *   uts and cgroup namespaces, a read-only root holding only the toolchain, a minimal
 *   read-only /dev, `opts.readable` read-only, `opts.writable` and `opts.tmpDir` (as /tmp)
 *   read-write, a new session (no terminal injection), death with its parent, and only the
 *   environment given.
 */
export function sandboxCommand(
  file: string,
  args: string[],
  opts: Omit<SandboxOptions, "logPath">,
  host: SandboxHost,
  cgroupProcs: string[] = [],
): { file: string; args: string[] } {
  const { limits } = opts;
  const env = { ...DEFAULT_ENV, ...opts.env };
  const bwrap = [
    "bwrap",
    "--unshare-user",
    "--disable-userns",
    "--uid",
    String(SANDBOX_UID),
    "--gid",
    String(SANDBOX_UID),
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--cap-drop",
    "ALL",
    "--hostname",
    "sandbox",
    ...host.rootDirs.flatMap((d) => ["--ro-bind", d, d]),
    ...host.rootLinks.flatMap(([link, target]) => ["--symlink", target, link]),
    ...TOOLCHAIN_FILES.flatMap((f) => ["--ro-bind-try", f, f]),
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    // bubblewrap's root and /dev are tmpfs in memory, out of the disk bounds' sight: the
    // build writes only where it was given a directory.
    "--remount-ro",
    "/dev",
    "--bind",
    opts.tmpDir,
    "/tmp",
    ...(opts.readable ?? []).flatMap((p) => ["--ro-bind", p, p]),
    ...opts.writable.flatMap((p) => ["--bind", p, p]),
    "--remount-ro",
    "/",
    "--new-session",
    "--die-with-parent",
    "--clearenv",
    ...Object.entries(env).flatMap(([k, v]) => ["--setenv", k, v]),
    "--chdir",
    opts.cwd,
    "--",
    file,
    ...args,
  ];
  const drop = host.dropTo
    ? [
        "setpriv",
        `--reuid=${host.dropTo.uid}`,
        `--regid=${host.dropTo.gid}`,
        "--clear-groups",
        "--inh-caps=-all",
        "--ambient-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
      ]
    : [];
  const rlimits = [
    "prlimit",
    `--as=${limits.memoryBytes}`,
    `--fsize=${limits.maxFileBytes}`,
    `--nproc=${cgroupProcs.length > 0 ? limits.maxProcesses * 4 : limits.maxProcesses}`,
    "--core=0",
    "--",
  ];
  const command = [...rlimits, ...drop, ...bwrap];
  if (cgroupProcs.length === 0) return { file: command[0] ?? "prlimit", args: command.slice(1) };
  // The shell writes its own pid into the cgroups and then becomes the command: everything
  // the build starts is in them from its first instruction.
  const enter =
    'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
  return { file: "/bin/sh", args: ["-c", enter, "sh", ...cgroupProcs, "--", ...command] };
}

const hostProbes = new Map<string, Promise<SandboxHost>>();

/**
 * How builds are isolated on this host, probed once per sandbox user: a trial sandbox must
 * start, run as an ordinary uid with no capabilities, and write files the host sees owned
 * by that uid, not root. Throws `SandboxUnavailableError` saying what is missing.
 */
export function sandboxHost(dropTo: { uid: number; gid: number } = NOBODY): Promise<SandboxHost> {
  const key = `${dropTo.uid}:${dropTo.gid}`;
  let probe = hostProbes.get(key);
  if (!probe) {
    probe = probeHost(dropTo).catch((error: unknown) => {
      hostProbes.delete(key);
      throw error;
    });
    hostProbes.set(key, probe);
  }
  return probe;
}

const NOBODY = { uid: 65534, gid: 65534 };

async function probeHost(dropTo: { uid: number; gid: number }): Promise<SandboxHost> {
  const root = process.geteuid?.() === 0;
  const rootLinks: [string, string][] = [];
  const rootDirs: string[] = [];
  for (const dir of TOOLCHAIN_DIRS) {
    const st = await lstat(dir).catch(() => null);
    if (!st) continue;
    if (st.isSymbolicLink()) {
      rootLinks.push([dir, await readlink(dir)]);
    } else if (st.isDirectory()) rootDirs.push(dir);
  }
  const host: SandboxHost = {
    dropTo: root ? dropTo : null,
    cgroup: root ? await cgroupLayout() : null,
    rootLinks,
    rootDirs,
  };
  for (const tool of ["bwrap", "prlimit", ...(root ? ["setpriv"] : [])]) {
    const found = await run("sh", ["-c", `command -v ${tool}`]);
    if (found.exitCode !== 0)
      throw new SandboxUnavailableError(
        `${tool} is not installed (${tool === "bwrap" ? "bubblewrap" : "util-linux"})`,
      );
  }
  if (root && dropTo.uid === 0)
    throw new SandboxUnavailableError("the sandbox uid is 0: builds must not run as root");
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-probe-"));
  try {
    await prepareWritable([tmpDir], host);
    const cmd = sandboxCommand(
      "/bin/sh",
      ["-c", "id -u > /tmp/probe; grep -E '^CapEff' /proc/self/status"],
      { cwd: "/", writable: [], tmpDir, limits: DEFAULT_SANDBOX_LIMITS },
      host,
    );
    const probe = await run(cmd.file, cmd.args, { timeoutMs: 30_000 });
    if (probe.exitCode !== 0) throw new SandboxUnavailableError(explainProbeFailure(probe.stderr));
    const uid = (await readFile(path.join(tmpDir, "probe"), "utf8")).trim();
    if (uid !== String(SANDBOX_UID) || !/CapEff:\s+0+$/m.test(probe.stdout))
      throw new SandboxUnavailableError(`the trial sandbox ran as uid ${uid}: ${probe.stdout}`);
    // What the host sees: the owner of a file the sandbox wrote is the uid it really ran as.
    const owner = (await stat(path.join(tmpDir, "probe"))).uid;
    if (owner === 0) throw new SandboxUnavailableError("the trial sandbox ran as root on the host");
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  return host;
}

/**
 * Give the sandbox's host uid the directories it may write (when hypwatch runs as root,
 * builds run as `dropTo`, which must own them). Recursive: a build directory copied from
 * by root (an older hypwatch, or a first use) is given over whole; one the uid owns is left.
 */
export async function prepareWritable(dirs: readonly string[], host: SandboxHost): Promise<void> {
  if (!host.dropTo) return;
  const { uid, gid } = host.dropTo;
  for (const dir of dirs) {
    const st = await stat(dir);
    if (st.uid === uid && st.gid === gid) continue;
    const result = await run("chown", ["-R", "--no-dereference", `${uid}:${gid}`, dir]);
    if (result.exitCode !== 0) throw new Error(`chown ${dir}: ${result.stderr.trim()}`);
  }
}

/**
 * Throw `SandboxUnavailableError` when the sandbox's host uid cannot reach one of `dirs`
 * (bubblewrap binds them as that uid): say which directory closes the way.
 */
export async function assertReachable(dirs: readonly string[], host: SandboxHost): Promise<void> {
  if (!host.dropTo) return;
  const { uid, gid } = host.dropTo;
  for (const dir of dirs) {
    for (let d = path.dirname(path.resolve(dir)); ; d = path.dirname(d)) {
      const st = await stat(d);
      const bits = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
      if ((st.mode & bits) === 0)
        throw new SandboxUnavailableError(
          `builds run as uid ${uid}, which cannot reach ${dir}: ${d} is mode ` +
            `${(st.mode & 0o777).toString(8).padStart(4, "0")}. Keep HYPWATCH_CACHE in a ` +
            "directory every user can pass through (root's default is /var/cache/hypwatch)",
        );
      if (d === path.dirname(d)) break;
    }
  }
}

/** What the kernel or bubblewrap said, as the thing the operator must change. */
export function explainProbeFailure(stderr: string): string {
  const said = stderr.trim().split("\n").slice(-1)[0] ?? "";
  const refused =
    /No permission to create new namespace|Creating new namespace failed|Operation not permitted|setting up uid map/i;
  if (refused.test(said))
    return (
      `unprivileged user namespaces are not available (bwrap: "${said}"). Allow them: ` +
      "sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1 on Debian " +
      "kernels, kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for " +
      "bwrap on Ubuntu; in a container, run it with a seccomp profile that allows unshare " +
      "and clone of user namespaces"
    );
  return `the trial sandbox failed: ${said || "no message"}`;
}

/**
 * The cgroup layout where hypwatch may create a child per build: cgroup v2 when its own
 * cgroup delegates memory and pids, else the v1 memory and pids hierarchies; null otherwise.
 */
async function cgroupLayout(): Promise<CgroupLayout | null> {
  const self = await readFile("/proc/self/cgroup", "utf8").catch(() => "");
  const own = (controller: string) =>
    self
      .split("\n")
      .map((l) => l.split(":"))
      .find((f) => f[1]?.split(",").includes(controller))?.[2];
  const tryMake = async (parent: string, files: string[]) => {
    const dir = path.join(parent, `hypwatch-probe-${process.pid}`);
    try {
      await mkdir(dir);
      for (const f of files) await lstat(path.join(dir, f));
      return true;
    } catch {
      return false;
    } finally {
      await rmdir(dir).catch(() => undefined);
    }
  };
  const memory = own("memory");
  const pids = own("pids");
  if (memory !== undefined && pids !== undefined) {
    const memoryParent = path.join("/sys/fs/cgroup/memory", memory);
    const pidsParent = path.join("/sys/fs/cgroup/pids", pids);
    if (
      (await tryMake(memoryParent, ["memory.limit_in_bytes"])) &&
      (await tryMake(pidsParent, ["pids.max"]))
    )
      return { version: 1, memoryParent, pidsParent };
  }
  const unified = /^0::(.*)$/m.exec(self)?.[1];
  if (unified !== undefined) {
    const parent = path.join("/sys/fs/cgroup", unified);
    if (await tryMake(parent, ["memory.max", "pids.max"])) return { version: 2, parent };
  }
  return null;
}

/** One build's cgroups: made with its limits before the build, read and removed after. */
interface BuildCgroup {
  procs: string[];
  /** The bound the kernel enforced, from the cgroup's event counters. */
  boundHit(): Promise<SandboxBound | null>;
  killAll(): Promise<void>;
  remove(): Promise<void>;
}

async function makeCgroup(layout: CgroupLayout, limits: SandboxLimits): Promise<BuildCgroup> {
  const name = `hypwatch-${randomUUID()}`;
  const counter = async (file: string, key: string) => {
    const text = await readFile(file, "utf8").catch(() => "");
    return Number(new RegExp(`^${key} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
  };
  const dirs =
    layout.version === 2
      ? { memory: path.join(layout.parent, name), pids: path.join(layout.parent, name) }
      : {
          memory: path.join(layout.memoryParent, name),
          pids: path.join(layout.pidsParent, name),
        };
  const unique = [...new Set([dirs.memory, dirs.pids])];
  for (const d of unique) await mkdir(d);
  if (layout.version === 2) {
    await writeFile(path.join(dirs.memory, "memory.max"), String(limits.memoryBytes));
    await writeFile(path.join(dirs.memory, "memory.swap.max"), "0").catch(() => undefined);
  } else {
    await writeFile(path.join(dirs.memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
  }
  await writeFile(path.join(dirs.pids, "pids.max"), String(limits.maxProcesses));
  const oomFile =
    layout.version === 2
      ? path.join(dirs.memory, "memory.events")
      : path.join(dirs.memory, "memory.oom_control");
  return {
    procs: unique.map((d) => path.join(d, "cgroup.procs")),
    async boundHit() {
      if ((await counter(oomFile, "oom_kill")) > 0) return "memory";
      if ((await counter(path.join(dirs.pids, "pids.events"), "max")) > 0) return "processes";
      return null;
    },
    async killAll() {
      for (const d of unique) {
        const pids = (await readFile(path.join(d, "cgroup.procs"), "utf8").catch(() => ""))
          .split("\n")
          .filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {
            // already gone
          }
        }
      }
    },
    async remove() {
      for (const d of unique) {
        for (let i = 0; i < 50; i++) {
          const ok = await rmdir(d).then(
            () => true,
            () => false,
          );
          if (ok) break;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    },
  };
}

/** Bytes on disk and entries under `dirs`, stopping early once either passes its bound. */
export async function diskUsage(
  dirs: readonly string[],
  stopAt: { bytes: number; files: number } = { bytes: Infinity, files: Infinity },
): Promise<{ bytes: number; files: number }> {
  const usage = { bytes: 0, files: 0 };
  const stack = [...dirs];
  while (stack.length > 0 && usage.bytes <= stopAt.bytes && usage.files <= stopAt.files) {
    const dir = stack.pop() as string;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    usage.files += entries.length;
    const stats = await Promise.all(
      entries.map((e) => lstat(path.join(dir, e.name)).catch(() => null)),
    );
    for (const [i, st] of stats.entries()) {
      if (!st) continue;
      usage.bytes += st.blocks * 512;
      const entry = entries[i];
      if (entry && st.isDirectory()) stack.push(path.join(dir, entry.name));
    }
  }
  return usage;
}

/** How often the disk and cgroup bounds are measured while a build runs. */
const DISK_POLL_MS = 1000;

/** Run `file args` in the sandbox to completion. Never throws for a failing command. */
export async function runSandboxed(
  file: string,
  args: string[],
  opts: SandboxOptions,
): Promise<SandboxResult> {
  const host = await sandboxHost(opts.limits.runAs);
  await mkdir(path.dirname(opts.logPath), { recursive: true });
  await assertReachable([...opts.writable, ...(opts.readable ?? []), opts.tmpDir], host);
  await prepareWritable([...opts.writable, opts.tmpDir], host);
  const cgroup = host.cgroup ? await makeCgroup(host.cgroup, opts.limits) : null;
  const cmd = sandboxCommand(file, args, opts, host, cgroup?.procs ?? []);
  const log = createWriteStream(opts.logPath, { flags: "a" });
  let logged = 0;
  let tail = "";
  const append = (chunk: Buffer) => {
    tail = (tail + chunk.toString("latin1")).slice(-LOG_TAIL_CHARS);
    if (logged >= MAX_LOG_BYTES) return;
    logged += chunk.length;
    log.write(chunk);
    if (logged >= MAX_LOG_BYTES) log.write(`\n[hypwatch] log cut at ${MAX_LOG_BYTES} bytes\n`);
  };
  const started = performance.now();
  const child = execa(cmd.file, cmd.args, {
    // bubblewrap's own pid 1 keeps the environment it was started with, and the build can
    // read it in /proc/1/environ: it gets nothing of ours but PATH.
    env: { PATH: process.env.PATH ?? DEFAULT_ENV.PATH ?? "/usr/bin:/bin" },
    extendEnv: false,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    buffer: false,
    reject: false,
    timeout: opts.limits.timeoutMs,
    killSignal: "SIGKILL",
    cleanup: true,
  });
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  let bound: SandboxBound | null = null;
  const watched = [...opts.writable, opts.tmpDir];
  let polling = false;
  const poll = setInterval(() => {
    if (polling || bound) return;
    polling = true;
    const stopAt = { bytes: opts.limits.diskBytes, files: opts.limits.diskFiles };
    void Promise.all([diskUsage(watched, stopAt), cgroup?.boundHit() ?? null])
      .then(([usage, hit]) => {
        if (bound) return;
        // A process the cgroup refused or killed is the build's end: stop the rest at once.
        bound = hit;
        if (usage.bytes > stopAt.bytes) bound = "disk-bytes";
        else if (usage.files > stopAt.files) bound = "disk-files";
        if (bound) {
          child.kill("SIGKILL");
          void cgroup?.killAll();
        }
      })
      .finally(() => (polling = false));
  }, DISK_POLL_MS);
  const result = await child;
  clearInterval(poll);
  // The pid namespace dies with bubblewrap; the cgroup is emptied as well, to be sure.
  await cgroup?.killAll();
  const durationMs = Math.round(performance.now() - started);
  if (result.timedOut) bound = "time";
  bound ??= (await cgroup?.boundHit()) ?? boundFromLog(tail);
  await cgroup?.remove();
  if (bound) log.write(`\n[hypwatch] stopped: ${describeBound(bound, opts.limits)}\n`);
  await new Promise<void>((resolve) => log.end(resolve));
  return {
    exitCode: result.exitCode ?? -1,
    timedOut: result.timedOut === true,
    bound,
    durationMs,
    logPath: opts.logPath,
  };
}

/** How much of the end of a log `boundFromLog` reads. */
const LOG_TAIL_CHARS = 16 * 1024;

/**
 * The bound a command ran into, from what its tools printed when an rlimit refused them
 * (where no cgroup counts it): a failed fork, a failed allocation, SIGXFSZ.
 */
export function boundFromLog(tail: string): SandboxBound | null {
  if (/File size limit exceeded/.test(tail)) return "file-size";
  if (/\b(?:v?fork|clone)\b.*Resource temporarily unavailable|[Cc]annot fork/.test(tail))
    return "processes";
  if (/MemoryError|out of memory|Cannot allocate memory|virtual memory exhausted/.test(tail))
    return "memory";
  return null;
}

/** One line saying which bound stopped a build, and its value. */
export function describeBound(bound: SandboxBound, limits: SandboxLimits): string {
  const mib = (n: number) => `${Math.round(n / 1024 ** 2)} MiB`;
  switch (bound) {
    case "time":
      return `ran over the time bound of ${Math.round(limits.timeoutMs / 1000)} s`;
    case "memory":
      return `ran over the memory bound of ${mib(limits.memoryBytes)}`;
    case "processes":
      return `ran into the bound of ${limits.maxProcesses} processes`;
    case "file-size":
      return `wrote a file bigger than the bound of ${mib(limits.maxFileBytes)}`;
    case "disk-bytes":
      return `wrote more than the disk bound of ${mib(limits.diskBytes)}`;
    case "disk-files":
      return `made more than the bound of ${limits.diskFiles} files`;
  }
}
