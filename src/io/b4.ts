import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { run } from "./exec.js";

/** What `b4 am` made of one thread. */
export interface B4AmResult {
  exitCode: number;
  /** The `.mbx` b4 wrote (patches in order, trailers applied); null when it wrote none. */
  mbx: Buffer | null;
  /** The `.cover` b4 wrote; null when the series has no cover letter. */
  cover: Buffer | null;
  /** b4's report (it writes it on stderr). */
  log: string;
}

/**
 * b4 reads git config for its identity and attestation policy; a private HOME gives it one
 * that works offline and leaves the user's config alone.
 */
async function b4Home(): Promise<string> {
  const home = await mkdtemp(path.join(tmpdir(), "hypwatch-b4-"));
  await writeFile(
    path.join(home, ".gitconfig"),
    "[user]\n\tname = hypwatch\n\temail = hypwatch@localhost\n[b4]\n\tattestation-policy = off\n",
  );
  return home;
}

export interface B4AmOptions {
  /** `-t`: trailers given to the cover letter count for every patch. */
  applyCoverTrailers?: boolean;
}

/** Run `b4 am` on a local mbox holding one thread, offline, and collect what it wrote. */
export async function b4Am(
  mbox: string,
  messageId: string,
  opts: B4AmOptions = {},
): Promise<B4AmResult> {
  const home = await b4Home();
  const outdir = path.join(home, "out");
  await mkdir(outdir);
  try {
    const flags = opts.applyCoverTrailers ? ["-t"] : [];
    const result = await run("b4", ["am", "-C", ...flags, "-m", mbox, "-o", outdir, messageId], {
      cwd: home,
      env: { HOME: home, XDG_CACHE_HOME: path.join(home, ".cache"), PATH: process.env.PATH ?? "" },
      timeoutMs: 120_000,
    });
    const files = await readdir(outdir);
    const read = async (ext: string): Promise<Buffer | null> => {
      const name = files.find((f) => f.endsWith(ext));
      return name ? readFile(path.join(outdir, name)) : null;
    };
    return {
      exitCode: result.exitCode,
      mbx: await read(".mbx"),
      cover: await read(".cover"),
      log: result.stdout + result.stderr,
    };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** The installed b4's version, e.g. "0.12.0"; null when b4 is missing. */
export async function b4Version(): Promise<string | null> {
  try {
    const result = await run("b4", ["--version"], { timeoutMs: 30_000 });
    return result.exitCode === 0 ? result.stdout.trim() : null;
  } catch {
    return null;
  }
}
