import { mkdtemp, mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { gitOk } from "../src/io/git.js";
import { corpusPath } from "./corpus.js";

/** Real patch mails from the corpus used by the apply tests. */
export const MAILS = {
  /** [PATCH v7 09/11] arm64: disable SCS for hypervisor code (arch/arm64/kvm/hyp/Makefile). */
  scsHypMakefile: corpusPath("threads", "scs-v7", "b1eb57917fe82ef28ace633f216cbced5adc96b8.eml"),
  /** [PATCH v7 00/11] cover letter: no diff. */
  scsCover: corpusPath("threads", "scs-v7", "ff8216658993cc6bb587c22333f835c58d3ad409.eml"),
  /** [PATCH v2 1/5] KVM: arm64: pmu: Fix cycle counter truncation (virt/kvm/arm/pmu.c). */
  pmuTruncation: corpusPath(
    "threads",
    "pmu-emulation-fixes-v2",
    "431789ce4b5f2295907eb23adb6c7e0a8d3fa385.eml",
  ),
} as const;

export const readMail = (file: string): Promise<Buffer> => readFile(file);

/** A real patch with its hunk header's line count broken, as mangling mailers do. */
export async function corruptedScsPatch(): Promise<Buffer> {
  const text = (await readFile(MAILS.scsHypMakefile)).toString("latin1");
  return Buffer.from(text.replace("@@ -28,3 +28,6 @@", "@@ -28,3 +28,9 @@"), "latin1");
}

/** The pre-image of the SCS hyp Makefile hunk: enough file for the real patch to apply. */
export const SCS_MAKEFILE_PREIMAGE =
  "# arm64 KVM hyp code\n\nGCOV_PROFILE\t:= n\nKASAN_SANITIZE\t:= n\nUBSAN_SANITIZE\t:= n\nKCOV_INSTRUMENT\t:= n\n";

/** A small git repository holding `files`, committed once. Returns its path. */
export async function smallRepo(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-repo-"));
  await gitOk(dir, ["init", "-q", "-b", "master"]);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  await gitOk(dir, ["add", "-A"]);
  await gitOk(dir, ["commit", "-q", "-m", "base"]);
  return dir;
}

/**
 * Commit an edit of `file` in `worktree` and return it as a `git format-patch` mail; the
 * commit stays, so callers reset when they want the pre-image back.
 */
export async function patchFromEdit(
  worktree: string,
  file: string,
  edit: (text: string) => string,
  subject: string,
): Promise<Buffer> {
  const full = path.join(worktree, file);
  const before = await readFile(full, "utf8");
  const after = edit(before);
  if (after === before) throw new Error(`edit of ${file} changed nothing`);
  await writeFile(full, after);
  await gitOk(worktree, ["commit", "-q", "-a", "-m", subject]);
  return Buffer.from(await gitOk(worktree, ["format-patch", "-1", "--stdout"]));
}
