import { createHash } from "node:crypto";
import { lutimes, mkdir, readFile, readdir, realpath, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { git, gitOk } from "../io/git.js";
import { lockFile, withLock, LockTimeoutError, type FileLock } from "../io/lock.js";
import { cacheRoot } from "./tree.js";

/**
 * A reusable check workspace: a `git worktree` of the kernel tree (`src`) plus one
 * out-of-tree build directory per configuration under `build/`. Slots are reused so that
 * files a check does not change keep their mtimes and builds stay incremental. Held
 * exclusively (an flock on `lock`) until released.
 */
export interface Slot {
  repo: string;
  index: number;
  dir: string;
  /** The worktree. */
  src: string;
  /** Parent of the per-configuration build directories. */
  buildRoot: string;
  logDir: string;
  /** Compile through Debian's ccache, when it is installed (`SlotPoolOptions.compilerCache`). */
  compilerCache: boolean;
  release(): Promise<void>;
}

export interface SlotPoolOptions {
  cacheDir?: string;
  /** How many slots (worktrees + build directories) a tree may have. Default 3. */
  maxSlots?: number;
  /** How long to wait for a free slot. Default 2 hours. */
  waitTimeoutMs?: number;
  /**
   * Compile through Debian's ccache, when it is installed (default false): each slot then
   * keeps a cache its base builds fill and its series builds only read (docs/apply.md,
   * ccache).
   */
  compilerCache?: boolean;
}

interface SlotState {
  /** The commit the worktree was last reset to. */
  base: string | null;
}

/** The directory holding the slots of `repo`, keyed by its real path. */
export async function poolDir(repo: string, cacheDir?: string): Promise<string> {
  const real = await realpath(repo);
  const key = createHash("sha256").update(real).digest("hex").slice(0, 10);
  return path.join(cacheRoot(cacheDir), "slots", `${path.basename(real)}-${key}`);
}

async function readState(dir: string): Promise<SlotState> {
  try {
    const parsed = JSON.parse(await readFile(path.join(dir, "state.json"), "utf8")) as unknown;
    const base =
      typeof parsed === "object" && parsed !== null && "base" in parsed ? parsed.base : null;
    return { base: typeof base === "string" ? base : null };
  } catch {
    return { base: null };
  }
}

/**
 * Take a slot whose lock is held: marked held until released, so that the next holder knows
 * whether the last one let it go. One killed mid-check (stopped for a newer revision, past
 * its time limit, out of memory) may have left objects half written and newer than their
 * sources, which an incremental build would take as built: its build directories are
 * thrown away, and the next build starts afresh.
 */
async function takeSlot(
  repo: string,
  dir: string,
  index: number,
  lock: FileLock,
  compilerCache: boolean,
): Promise<Slot> {
  const buildRoot = path.join(dir, "build");
  const held = path.join(dir, "held");
  const abandoned = await stat(held).then(
    () => true,
    () => false,
  );
  if (abandoned) await rm(buildRoot, { recursive: true, force: true });
  await writeFile(held, String(process.pid));
  return {
    repo,
    index,
    dir,
    src: path.join(dir, "src"),
    buildRoot,
    logDir: path.join(dir, "logs"),
    compilerCache,
    release: async () => {
      await rm(held, { force: true });
      await lock.release();
    },
  };
}

/**
 * Take a free slot of `repo`'s pool, preferring one last used with `base` (its build
 * directories are warm for it), creating a new slot while the pool is below `maxSlots`,
 * and otherwise waiting. The worktree is not reset: call `resetSlot`.
 */
export async function acquireSlot(
  repo: string,
  base: string | null,
  opts: SlotPoolOptions = {},
): Promise<Slot> {
  const pool = await poolDir(repo, opts.cacheDir);
  const maxSlots = opts.maxSlots ?? 3;
  const deadline = Date.now() + (opts.waitTimeoutMs ?? 2 * 3600_000);
  await mkdir(pool, { recursive: true });
  for (;;) {
    const slot = await withLock(path.join(pool, "pool.lock"), async () => {
      const indices = (await readdir(pool))
        .map((n) => /^slot-(\d+)$/.exec(n)?.[1])
        .filter((n): n is string => n !== undefined)
        .map(Number)
        .sort((a, b) => a - b);
      const states = await Promise.all(indices.map((i) => readState(path.join(pool, `slot-${i}`))));
      const order = indices
        .map((i, k) => ({ i, warm: base !== null && states[k]?.base === base }))
        .sort((a, b) => Number(b.warm) - Number(a.warm));
      for (const { i } of order) {
        const dir = path.join(pool, `slot-${i}`);
        const lock = await lockFile(path.join(dir, "lock"), { wait: false });
        if (lock) return takeSlot(repo, dir, i, lock, opts.compilerCache ?? false);
      }
      if (indices.length < maxSlots) {
        const i = indices.length === 0 ? 0 : Math.max(...indices) + 1;
        const dir = path.join(pool, `slot-${i}`);
        await mkdir(dir, { recursive: true });
        const lock = await lockFile(path.join(dir, "lock"), { wait: false });
        if (lock) return takeSlot(repo, dir, i, lock, opts.compilerCache ?? false);
      }
      return null;
    });
    if (slot) return slot;
    if (Date.now() > deadline) throw new LockTimeoutError(path.join(pool, "slot-*"));
    await sleep(2000);
  }
}

async function worktreeUsable(src: string): Promise<boolean> {
  const isDir = await stat(path.join(src, ".git")).then(
    () => true,
    () => false,
  );
  return isDir && (await git(src, ["rev-parse", "--verify", "-q", "HEAD"])).exitCode === 0;
}

/**
 * Put the slot's worktree at `commit`, as a fresh checkout would be, but touching only the
 * files that differ (`git checkout --detach -f` + `git clean -fdx`), so untouched files keep
 * their mtimes and the build directories stay valid; an am session or index lock left by a
 * killed git is cleared first. A missing or broken worktree (first
 * use, or a crash while creating it) is (re)created with `git worktree add`. With
 * `opts.asBuilt`, the files put back are dated as built (`checkoutInSlot`).
 */
export async function resetSlot(
  slot: Slot,
  commit: string,
  opts: CheckoutOptions = {},
): Promise<void> {
  if (!(await worktreeUsable(slot.src))) {
    await rm(slot.src, { recursive: true, force: true });
    await withLock(path.join(path.dirname(slot.dir), "worktree-add.lock"), async () => {
      await gitOk(slot.repo, ["worktree", "prune"]);
      await gitOk(slot.repo, ["worktree", "add", "--detach", "-f", slot.src, commit], {
        timeoutMs: 30 * 60_000,
      });
    });
  } else {
    // What a git killed mid-way leaves (a check stopped or past its time limit): an am
    // session, and its index lock. Nothing else uses this worktree while the slot is held.
    for (const left of ["rebase-apply", "index.lock"]) {
      const leftPath = (await gitOk(slot.src, ["rev-parse", "--git-path", left])).trim();
      await rm(path.resolve(slot.src, leftPath), { recursive: true, force: true });
    }
    await checkoutInSlot(slot, commit, opts);
    await gitOk(slot.src, ["clean", "-fdxq"], { timeoutMs: 30 * 60_000 });
  }
  await writeFile(path.join(slot.dir, "state.json"), JSON.stringify({ base: commit }));
}

export interface CheckoutOptions {
  /**
   * The slot's base build directories were last built from `commit` (all of them, trusted
   * code only). The files the checkout puts back then hold the very content those objects
   * were built from, and are dated `AS_BUILT` instead of now: make keeps the objects, where
   * it would rebuild everything a series had touched (a header: every hyp object) on its
   * way back to the base. Never for a commit the base builds were not made from.
   */
  asBuilt?: boolean;
}

/** The date of a file put back to the content a build was made from: older than any build. */
export const AS_BUILT = new Date("2000-01-01T00:00:00Z");

/**
 * Move the slot's worktree between commits of one series (or back to its base): only the
 * files that differ are rewritten, so a build afterwards recompiles only what they feed.
 */
export async function checkoutInSlot(
  slot: Slot,
  commit: string,
  opts: CheckoutOptions = {},
): Promise<void> {
  // What differs between the worktree (a killed am's edits included) and the commit.
  const rewritten = opts.asBuilt
    ? (await gitOk(slot.src, ["diff", "--no-renames", "--name-only", "-z", commit]))
        .split("\0")
        .filter(Boolean)
    : [];
  await gitOk(slot.src, ["checkout", "--detach", "-f", "-q", commit], { timeoutMs: 30 * 60_000 });
  for (const file of rewritten)
    // A file the commit does not have was removed; lutimes never follows a link out.
    await lutimes(path.join(slot.src, file), AS_BUILT, AS_BUILT).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    });
}
