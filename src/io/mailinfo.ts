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
   * mail's charset; a patch file that is not UTF-8 was read as ISO-8859-1.
   */
  patchNotUtf8: boolean;
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
    let patch: string;
    let patchNotUtf8 = false;
    try {
      patch = new TextDecoder("utf-8", { fatal: true }).decode(patchBytes);
    } catch {
      patch = patchBytes.toString("latin1");
      patchNotUtf8 = true;
    }
    return {
      exitCode: result.exitCode,
      message,
      patch,
      patchNotUtf8,
      info: result.stdout,
      stderr: result.stderr,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
