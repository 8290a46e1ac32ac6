import { rm } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { gitOk } from "../io/git.js";
import {
  corruptedScsPatch,
  MAILS,
  readMail,
  SCS_MAKEFILE_PREIMAGE,
  patchFromEdit,
  smallRepo,
} from "../../test/git-fixtures.js";
import { applyAtOnce, applyPatch, applySeries } from "./am.js";

const MAKEFILE = "arch/arm64/kvm/hyp/Makefile";
const repos: string[] = [];
async function repo(files: Record<string, string>): Promise<string> {
  const dir = await smallRepo(files);
  repos.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(repos.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const head = async (dir: string) => (await gitOk(dir, ["rev-parse", "HEAD"])).trim();
const clean = async (dir: string) => (await gitOk(dir, ["status", "--porcelain"])).trim();

describe("applyPatch on a small repository with the real SCS hyp Makefile patch", () => {
  it("applies it where the pre-image is present and makes one commit", async () => {
    const dir = await repo({ [MAKEFILE]: SCS_MAKEFILE_PREIMAGE });
    const before = await head(dir);
    const result = await applyPatch(dir, {
      id: "scs-09",
      mail: await readMail(MAILS.scsHypMakefile),
    });
    expect(result).toMatchObject({ id: "scs-09", applied: true });
    expect(await gitOk(dir, ["rev-parse", "HEAD~1"])).toContain(before);
    expect(await gitOk(dir, ["show", "HEAD:" + MAKEFILE])).toContain("$(CC_FLAGS_SCS)");
  });

  it("reports already-applied when the tree has the change", async () => {
    const dir = await repo({ [MAKEFILE]: SCS_MAKEFILE_PREIMAGE });
    const mail = await readMail(MAILS.scsHypMakefile);
    expect((await applyPatch(dir, { id: "first", mail })).applied).toBe(true);
    const at = await head(dir);
    const again = await applyPatch(dir, { id: "again", mail });
    expect(again).toMatchObject({ applied: false, kind: "already-applied" });
    expect(await head(dir)).toBe(at);
    expect(await clean(dir)).toBe("");
  });

  it("reports context-mismatch and names the file when the context differs", async () => {
    const dir = await repo({
      [MAKEFILE]: SCS_MAKEFILE_PREIMAGE.replace("UBSAN_SANITIZE\t:= n", "UBSAN_SANITIZE\t:= y"),
    });
    const before = await head(dir);
    const result = await applyPatch(dir, {
      id: "scs-09",
      mail: await readMail(MAILS.scsHypMakefile),
    });
    expect(result).toMatchObject({ applied: false, kind: "context-mismatch", paths: [MAKEFILE] });
    expect(await head(dir)).toBe(before);
    expect(await clean(dir)).toBe("");
  });

  it("reports missing-file when the tree lacks the file", async () => {
    const dir = await repo({ README: "no kvm here\n" });
    const result = await applyPatch(dir, {
      id: "scs-09",
      mail: await readMail(MAILS.scsHypMakefile),
    });
    expect(result).toMatchObject({ applied: false, kind: "missing-file", paths: [MAKEFILE] });
    expect(await clean(dir)).toBe("");
  });

  it("reports malformed for a cover letter and for a corrupted hunk", async () => {
    const dir = await repo({ [MAKEFILE]: SCS_MAKEFILE_PREIMAGE });
    const cover = await applyPatch(dir, { id: "cover", mail: await readMail(MAILS.scsCover) });
    expect(cover).toMatchObject({ applied: false, kind: "malformed" });
    const corrupt = await applyPatch(dir, { id: "bad", mail: await corruptedScsPatch() });
    expect(corrupt).toMatchObject({ applied: false, kind: "malformed" });
    expect(await clean(dir)).toBe("");
    // git am left no session behind: the real patch still applies afterwards.
    const ok = await applyPatch(dir, { id: "ok", mail: await readMail(MAILS.scsHypMakefile) });
    expect(ok.applied).toBe(true);
  });

  it("keeps git's raw output for logs on failure", async () => {
    const dir = await repo({ README: "x\n" });
    const result = await applyPatch(dir, {
      id: "scs-09",
      mail: await readMail(MAILS.scsHypMakefile),
    });
    expect(result.applied).toBe(false);
    if (!result.applied) expect(result.rawOutput).toMatch(/Makefile/);
  });
});

describe("applySeries", () => {
  it("applies patch by patch, calls back after each, and stops at the first failure", async () => {
    const dir = await repo({ [MAKEFILE]: SCS_MAKEFILE_PREIMAGE });
    const mail = await readMail(MAILS.scsHypMakefile);
    const seen: number[] = [];
    const result = await applySeries(
      dir,
      [
        { id: "p1", mail },
        { id: "p2", mail },
        { id: "p3", mail },
      ],
      async (_r, index) => {
        seen.push(index);
      },
    );
    expect(seen).toEqual([0]);
    expect(result.complete).toBe(false);
    expect(result.patches.map((p) => [p.id, p.applied])).toEqual([
      ["p1", true],
      ["p2", false],
    ]);
  });

  it("applies a series in one git am: one commit per mail, in order", async () => {
    const dir = await repo({ [MAKEFILE]: SCS_MAKEFILE_PREIMAGE, README: "kvm\n" });
    const before = await head(dir);
    const scs = await readMail(MAILS.scsHypMakefile);
    const readme = await patchFromEdit(dir, "README", (t) => `${t}arm64\n`, "README: arm64");
    await gitOk(dir, ["checkout", "-q", "--detach", before]);
    const series = [
      { id: "scs", mail: scs },
      { id: "readme", mail: readme },
    ];
    const atOnce = await applyAtOnce(dir, before, series);
    expect(atOnce).toHaveLength(2);
    await gitOk(dir, ["checkout", "-q", "--detach", before]);
    const result = await applySeries(dir, series);
    expect(result.complete).toBe(true);
    const commits = (await gitOk(dir, ["rev-list", "--reverse", `${before}..HEAD`])).split("\n");
    expect(result.patches.map((p) => (p.applied ? [p.id, p.commit] : [p.id]))).toEqual([
      ["scs", commits[0]],
      ["readme", commits[1]],
    ]);
    expect(await gitOk(dir, ["show", `${commits[0]}:${MAKEFILE}`])).toContain("$(CC_FLAGS_SCS)");
    expect(await gitOk(dir, ["log", "-1", "--format=%s", commits[1] ?? ""])).toContain("arm64");
  });

  it("names the patch that failed when the series does not apply at once", async () => {
    const dir = await repo({ [MAKEFILE]: SCS_MAKEFILE_PREIMAGE });
    const mail = await readMail(MAILS.scsHypMakefile);
    const result = await applySeries(dir, [
      { id: "p1", mail },
      { id: "p2", mail },
      { id: "p3", mail },
    ]);
    expect(result.patches).toMatchObject([
      { id: "p1", applied: true },
      { id: "p2", applied: false, kind: "already-applied" },
    ]);
    // Patch 1 applied once: the failed attempt at once left nothing behind.
    expect(await gitOk(dir, ["rev-list", "--count", "HEAD"])).toBe("2\n");
    expect(await clean(dir)).toBe("");
  });

  it("applies patch by patch when a mail makes more than one commit", async () => {
    const dir = await repo({ [MAKEFILE]: SCS_MAKEFILE_PREIMAGE, README: "kvm\n" });
    const before = await head(dir);
    const one = await patchFromEdit(dir, "README", (t) => `${t}one\n`, "README: one");
    const two = await patchFromEdit(dir, "README", (t) => `${t}two\n`, "README: two");
    await gitOk(dir, ["checkout", "-q", "--detach", before]);
    // Two mails in one: git am splits the mbox, so the first "patch" makes two commits.
    const both = Buffer.concat([one, two]);
    const scs = await readMail(MAILS.scsHypMakefile);
    const series = [
      { id: "both", mail: both },
      { id: "scs", mail: scs },
    ];
    expect(await applyAtOnce(dir, before, series)).toBeNull();
    expect(await head(dir)).toBe(before);
    expect(await clean(dir)).toBe("");
    const result = await applySeries(dir, series);
    expect(result.complete).toBe(true);
    const commits = (await gitOk(dir, ["rev-list", "--reverse", `${before}..HEAD`])).split("\n");
    expect(result.patches.map((p) => (p.applied ? p.commit : null))).toEqual([
      commits[1],
      commits[2],
    ]);
  });
});
