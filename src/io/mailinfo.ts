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
  /**
   * mailinfo re-codes only the commit message to UTF-8 and writes the patch in the
   * mail's charset (or appends binary parts); `patch` is then decoded with U+FFFD for
   * the bytes that are not UTF-8, and `patchBytes` has them as written.
   */
  patchNotUtf8: boolean;
  patchBytes: Buffer;
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
    const [message, patchBytes] = await Promise.all([
      readFile(msgFile, "utf8").catch(() => ""),
      readFile(patchFile).catch(() => Buffer.alloc(0)),
    ]);
    const patch = patchBytes.toString("utf8");
    const patchNotUtf8 = !Buffer.from(patch, "utf8").equals(patchBytes);
    return {
      exitCode: result.exitCode,
      message,
      patch,
      patchNotUtf8,
      patchBytes,
      info: result.stdout,
      stderr: result.stderr,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
