import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { run } from "./exec.js";

/** What `git mailinfo` (the splitter `git am` uses) makes of one message. */
export interface MailinfoResult {
  exitCode: number;
  /** The commit message file. */
  message: string;
  /** The patch file: everything from the patch break on. */
  patch: string;
  /** stdout: Author, Email, Subject, Date. */
  info: string;
  stderr: string;
}

/**
 * Run `git mailinfo -u` on one raw message, as `git am` does (re-coded to UTF-8, no
 * scissors, no Message-ID). Needs no repository.
 */
export async function gitMailinfo(raw: Buffer): Promise<MailinfoResult> {
  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-mailinfo-"));
  try {
    const msgFile = path.join(dir, "msg");
    const patchFile = path.join(dir, "patch");
    const result = await run("git", ["mailinfo", "-u", msgFile, patchFile], {
      input: raw,
      cwd: dir,
      timeoutMs: 60_000,
    });
    const [message, patch] = await Promise.all([
      readFile(msgFile, "utf8").catch(() => ""),
      readFile(patchFile, "utf8").catch(() => ""),
    ]);
    return {
      exitCode: result.exitCode,
      message,
      patch,
      info: result.stdout,
      stderr: result.stderr,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
