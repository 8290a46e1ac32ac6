import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../io/exec.js";
import { gitOk } from "../io/git.js";
import { MAILS, readMail, SCS_MAKEFILE_PREIMAGE, smallRepo } from "../../test/git-fixtures.js";
import { chooseBase } from "./base.js";
import { baseBuiltFrom } from "./build.js";
import { AS_BUILT, acquireSlot, resetSlot } from "./slots.js";

const MAKEFILE = "arch/arm64/kvm/hyp/Makefile";
const tmp: string[] = [];
afterAll(async () => {
  await Promise.all(tmp.map((d) => rm(d, { recursive: true, force: true })));
});
async function setup(): Promise<{ repo: string; cacheDir: string; base: string }> {
  const repo = await smallRepo({ [MAKEFILE]: SCS_MAKEFILE_PREIMAGE, "a.c": "int a;\n" });
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-cache-"));
  tmp.push(repo, cacheDir);
  return { repo, cacheDir, base: (await gitOk(repo, ["rev-parse", "HEAD"])).trim() };
}

describe("worktree slots", () => {
  it("gives concurrent checks different slots and never touches the user's checkout", async () => {
    const { repo, cacheDir, base } = await setup();
    const [a, b] = await Promise.all([
      acquireSlot(repo, base, { cacheDir }),
      acquireSlot(repo, base, { cacheDir }),
    ]);
    expect(a.dir).not.toBe(b.dir);
    await Promise.all([resetSlot(a, base), resetSlot(b, base)]);
    await writeFile(path.join(a.src, "a.c"), "int changed;\n");
    expect(await readFile(path.join(repo, "a.c"), "utf8")).toBe("int a;\n");
    expect(await gitOk(repo, ["status", "--porcelain"])).toBe("");
    await Promise.all([a.release(), b.release()]);
  });

  it("waits for a free slot when the pool is full, and prefers a slot warm for the base", async () => {
    const { repo, cacheDir, base } = await setup();
    const first = await acquireSlot(repo, base, { cacheDir, maxSlots: 1 });
    await resetSlot(first, base);
    let second: Awaited<ReturnType<typeof acquireSlot>> | null = null;
    const waiting = acquireSlot(repo, base, { cacheDir, maxSlots: 1 }).then((s) => (second = s));
    await new Promise((r) => setTimeout(r, 500));
    expect(second).toBeNull();
    await first.release();
    await waiting;
    expect(second!.dir).toBe(first.dir);
    await second!.release();
    // With two slots, the one last reset to `base` is chosen over a fresh one.
    const again = await acquireSlot(repo, base, { cacheDir, maxSlots: 2 });
    expect(again.dir).toBe(first.dir);
    await again.release();
  });

  it("resets to a base touching only files that differ, after a failed git am too", async () => {
    const { repo, cacheDir, base } = await setup();
    const slot = await acquireSlot(repo, base, { cacheDir });
    await resetSlot(slot, base);
    const old = new Date("2020-01-01T00:00:00Z");
    await utimes(path.join(slot.src, "a.c"), old, old);
    await utimes(path.join(slot.src, MAKEFILE), old, old);
    // Apply the real patch, leave a failed am session and an untracked file behind.
    await gitOk(slot.src, ["am", "-3"], { input: await readMail(MAILS.scsHypMakefile) });
    await gitOk(slot.src, ["am", "-3"], { input: await readMail(MAILS.scsCover) }).catch(() => "");
    await writeFile(path.join(slot.src, "stray.o"), "");
    await resetSlot(slot, base);
    expect((await gitOk(slot.src, ["rev-parse", "HEAD"])).trim()).toBe(base);
    expect(await gitOk(slot.src, ["status", "--porcelain", "--ignored"])).toBe("");
    expect((await stat(path.join(slot.src, "a.c"))).mtime).toEqual(old);
    expect((await stat(path.join(slot.src, MAKEFILE))).mtimeMs).toBeGreaterThan(old.getTime());
    await slot.release();
  });

  it("resets a worktree whose git was killed holding its index lock (a check stopped)", async () => {
    const { repo, cacheDir, base } = await setup();
    const slot = await acquireSlot(repo, base, { cacheDir });
    await resetSlot(slot, base);
    await writeFile(path.join(slot.src, "a.c"), "int changed;\n");
    const lock = (await gitOk(slot.src, ["rev-parse", "--git-path", "index.lock"])).trim();
    await writeFile(path.resolve(slot.src, lock), "");
    await resetSlot(slot, base);
    expect(await gitOk(slot.src, ["status", "--porcelain", "--ignored"])).toBe("");
    await slot.release();
  });

  it("throws away the build directories of a slot whose holder was killed, and only then", async () => {
    const { repo, cacheDir, base } = await setup();
    const built = (slot: { buildRoot: string }) => path.join(slot.buildRoot, "defconfig", "a.o");
    const released = await acquireSlot(repo, base, { cacheDir, maxSlots: 1 });
    await mkdir(path.dirname(built(released)), { recursive: true });
    await writeFile(built(released), "ELF");
    await released.release();
    const next = await acquireSlot(repo, base, { cacheDir, maxSlots: 1 });
    expect(existsSync(built(next))).toBe(true);
    await next.release();

    // A process holding the slot, killed mid-build with an object half written.
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
    const slots = new URL("./slots.ts", import.meta.url).href;
    const script = `
      const { acquireSlot } = await import(${JSON.stringify(slots)});
      const { writeFile } = await import("node:fs/promises");
      const slot = await acquireSlot(${JSON.stringify(repo)}, null, { cacheDir: ${JSON.stringify(cacheDir)}, maxSlots: 1 });
      await writeFile(slot.buildRoot + "/defconfig/a.o", "EL");
      console.log("building");
      setInterval(() => {}, 1000);`;
    const holder = spawn(process.execPath, ["--import", tsx, "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on("data", (chunk: Buffer) => chunk.includes("building") && resolve());
      holder.on("exit", () => reject(new Error("the holder exited before building")));
    });
    holder.kill("SIGKILL");
    const after = await acquireSlot(repo, base, { cacheDir, maxSlots: 1, waitTimeoutMs: 10_000 });
    expect(after.dir).toBe(next.dir);
    expect(existsSync(built(after))).toBe(false);
    await after.release();
  });

  it("dates the files it puts back as built only when asked: make keeps objects built from them", async () => {
    const { repo, cacheDir, base } = await setup();
    const slot = await acquireSlot(repo, base, { cacheDir });
    // A build directory made from the base: its object copies the hyp Makefile.
    const buildDir = path.join(slot.buildRoot, "defconfig");
    await mkdir(buildDir, { recursive: true });
    await writeFile(path.join(buildDir, "Makefile"), `out: ${slot.src}/${MAKEFILE}\n\tcp $< $@\n`);
    const make = (...args: string[]) =>
      run("make", ["-C", buildDir, ...args]).then((r) => r.exitCode);
    const roundTrip = async (asBuilt: boolean) => {
      await resetSlot(slot, base);
      expect(await make()).toBe(0);
      await gitOk(slot.src, ["am", "-3"], { input: await readMail(MAILS.scsHypMakefile) });
      const untouched = (await stat(path.join(slot.src, "a.c"))).mtimeMs;
      await resetSlot(slot, base, { asBuilt });
      expect((await stat(path.join(slot.src, "a.c"))).mtimeMs).toBe(untouched);
      expect(await readFile(path.join(buildDir, "out"), "utf8")).toBe(SCS_MAKEFILE_PREIMAGE);
      return make("-q");
    };
    // Put back as built: the object is up to date (and was built from that very content).
    expect(await roundTrip(true)).toBe(0);
    expect((await stat(path.join(slot.src, MAKEFILE))).mtime).toEqual(AS_BUILT);
    // Put back as a checkout does: make rebuilds what the series had touched.
    expect(await roundTrip(false)).toBe(1);
    await slot.release();
  });

  it("recreates a worktree a crash left broken", async () => {
    const { repo, cacheDir, base } = await setup();
    const slot = await acquireSlot(repo, base, { cacheDir });
    await resetSlot(slot, base);
    await rm(path.join(slot.src, ".git"));
    await resetSlot(slot, base);
    expect((await gitOk(slot.src, ["rev-parse", "HEAD"])).trim()).toBe(base);
    await slot.release();
  });
});

describe("baseBuiltFrom", () => {
  it("names the commit only when every base build directory was last built from it", async () => {
    const { repo, cacheDir, base } = await setup();
    const slot = await acquireSlot(repo, base, { cacheDir });
    const stamp = (name: string, lastBuilt: string | null) =>
      writeFile(path.join(slot.buildRoot, `${name}.stamp.json`), JSON.stringify({ lastBuilt }));
    expect(await baseBuiltFrom(slot)).toBeNull();
    await mkdir(slot.buildRoot, { recursive: true });
    await stamp("defconfig", base);
    expect(await baseBuiltFrom(slot)).toBe(base);
    await stamp("instrumented", base);
    expect(await baseBuiltFrom(slot)).toBe(base);
    await stamp("hyp-options", null);
    expect(await baseBuiltFrom(slot)).toBeNull();
    await stamp("hyp-options", "0".repeat(40));
    expect(await baseBuiltFrom(slot)).toBeNull();
    await slot.release();
  });
});

describe("chooseBase", () => {
  it("tries base-commit, then the candidates in order, then HEAD, recording why each failed", async () => {
    const { repo, cacheDir, base } = await setup();
    // A candidate branch on which the real patch does not apply.
    await gitOk(repo, ["checkout", "-q", "-b", "other"]);
    await writeFile(
      path.join(repo, MAKEFILE),
      SCS_MAKEFILE_PREIMAGE.replace("KASAN_SANITIZE\t:= n", "KASAN_SANITIZE\t:= y"),
    );
    await gitOk(repo, ["commit", "-qam", "other"]);
    await gitOk(repo, ["checkout", "-q", "master"]);
    const slot = await acquireSlot(repo, null, { cacheDir });
    const choice = await chooseBase(
      slot,
      [{ id: "scs-09", mail: await readMail(MAILS.scsHypMakefile) }],
      {
        baseCommit: "0123456789abcdef0123456789abcdef01234567",
        candidates: ["other", "nope", "master"],
      },
    );
    expect(choice.commit).toBe(base);
    expect(choice.attempts.map((a) => [a.source, a.ref, a.outcome])).toEqual([
      ["base-commit", "0123456789abcdef0123456789abcdef01234567", "missing"],
      ["candidate", "other", "does-not-apply"],
      ["candidate", "nope", "missing"],
      ["candidate", "master", "chosen"],
    ]);
    expect(choice.attempts[1]?.failure).toEqual({ patchId: "scs-09", kind: "context-mismatch" });
    // The slot is left with the series applied on the chosen base, one commit per patch.
    const head = (await gitOk(slot.src, ["rev-parse", "HEAD"])).trim();
    expect(choice.apply?.patches).toEqual([{ id: "scs-09", applied: true, commit: head }]);
    expect((await gitOk(slot.src, ["rev-parse", "HEAD^"])).trim()).toBe(base);
    await slot.release();
  });

  it("ends with HEAD and reports no base when nothing takes the series", async () => {
    const { repo, cacheDir } = await setup();
    const slot = await acquireSlot(repo, null, { cacheDir });
    const choice = await chooseBase(
      slot,
      [{ id: "cover", mail: await readMail(MAILS.scsCover) }],
      {},
    );
    expect(choice.commit).toBeNull();
    expect(choice.apply).toBeNull();
    expect(choice.attempts).toMatchObject([
      { source: "head", ref: "HEAD", outcome: "does-not-apply", failure: { kind: "malformed" } },
    ]);
    await slot.release();
  });
});
