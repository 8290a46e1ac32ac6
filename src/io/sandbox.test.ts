import { chmod, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { sandboxAttacks, tearDownSandboxScene } from "../../scripts/attack/sandbox.js";
import { smallRepo } from "../../test/git-fixtures.js";
import { run } from "./exec.js";
import {
  boundFromLog,
  DEFAULT_SANDBOX_LIMITS,
  explainProbeFailure,
  runSandboxed,
  sandboxCommand,
  sandboxHost,
  SandboxUnavailableError,
  type SandboxHost,
} from "./sandbox.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

const host: SandboxHost = {
  dropTo: { uid: 65534, gid: 65534 },
  cgroup: null,
  rootLinks: [["/bin", "usr/bin"]],
  rootDirs: ["/usr"],
};
const opts = {
  cwd: "/b",
  writable: ["/b"],
  readable: ["/s"],
  tmpDir: "/t",
  limits: DEFAULT_SANDBOX_LIMITS,
};

describe("sandboxCommand", () => {
  it("drops root to the unprivileged uid before bubblewrap, with no capability left", () => {
    const { file, args } = sandboxCommand("make", ["-C", "/s"], opts, host);
    expect(file).toBe("prlimit");
    const setpriv = args.indexOf("setpriv");
    expect(setpriv).toBeGreaterThan(args.indexOf("--"));
    expect(args.slice(setpriv, args.indexOf("bwrap"))).toEqual(
      expect.arrayContaining([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--bounding-set=-all",
        "--no-new-privs",
      ]),
    );
    const bwrap = args.slice(args.indexOf("bwrap"));
    for (const flag of ["--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-net"])
      expect(bwrap).toContain(flag);
    expect(bwrap.slice(bwrap.indexOf("--uid"), bwrap.indexOf("--uid") + 2)).toEqual([
      "--uid",
      "1000",
    ]);
  });

  it("binds the toolchain, the worktree read-only and the build directory, and nothing of /", () => {
    const { args } = sandboxCommand("make", [], opts, host);
    const binds = args.flatMap((a, i) =>
      a === "--bind" || a === "--ro-bind" ? [`${a} ${args[i + 1]} ${args[i + 2]}`] : [],
    );
    expect(binds).toEqual([
      "--ro-bind /usr /usr",
      "--bind /t /tmp",
      "--ro-bind /s /s",
      "--bind /b /b",
    ]);
    // "/" appears only to be made read-only.
    expect(args.flatMap((a, i) => (a === "/" ? [args[i - 1]] : []))).toEqual(["--remount-ro"]);
    expect(args.join(" ")).toContain("--symlink usr/bin /bin");
  });

  it("does not drop privileges it does not have", () => {
    const { args } = sandboxCommand("make", [], opts, { ...host, dropTo: null });
    expect(args).not.toContain("setpriv");
  });

  it("enters the build's cgroups before anything else runs", () => {
    const { file, args } = sandboxCommand("make", [], opts, host, ["/cg/m/cgroup.procs"]);
    expect(file).toBe("/bin/sh");
    expect(args.slice(2, 6)).toEqual(["sh", "/cg/m/cgroup.procs", "--", "prlimit"]);
  });
});

describe("boundFromLog and explainProbeFailure", () => {
  it("names the bound an rlimit refused", () => {
    expect(boundFromLog("/bin/sh: 1: Cannot fork\n")).toBe("processes");
    expect(boundFromLog("cc1: out of memory allocating 65536 bytes\n")).toBe("memory");
    expect(boundFromLog("File size limit exceeded (core dumped)\n")).toBe("file-size");
    expect(boundFromLog("make: *** [Makefile:1: all] Error 1\n")).toBeNull();
  });

  it("says what to change when user namespaces are refused", () => {
    const why = explainProbeFailure(
      "bwrap: No permission to create new namespace, likely because the kernel does not allow non-privileged user namespaces.",
    );
    expect(why).toMatch(/unprivileged user namespaces are not available/);
    expect(why).toMatch(/max_user_namespaces/);
  });
});

describe.runIf(process.geteuid?.() === 0)("refusing to build (as root)", () => {
  it("names the directory that keeps the sandbox uid from a build directory", async () => {
    const closed = await mkdtemp(path.join(os.tmpdir(), "hypwatch-closed-"));
    try {
      await mkdir(path.join(closed, "build"), { recursive: true });
      await chmod(closed, 0o700);
      const build = path.join(closed, "build");
      const result = runSandboxed("true", [], {
        ...opts,
        cwd: build,
        writable: [build],
        readable: [],
        tmpDir: build,
        logPath: path.join(closed, "log"),
      });
      await expect(result).rejects.toThrow(SandboxUnavailableError);
      await expect(result).rejects.toThrow(`${closed} is mode 0700`);
    } finally {
      await rm(closed, { recursive: true, force: true });
    }
  });

  it("refuses uid 0 as the sandbox user", async () => {
    await expect(sandboxHost({ uid: 0, gid: 0 })).rejects.toThrow(/must not run as root/);
  });
});

describe("a hostile build in the real sandbox", () => {
  afterAll(tearDownSandboxScene);
  for (const attack of sandboxAttacks)
    it(`${attack.kind}: ${attack.name}`, async () => {
      const outcome = await attack.run();
      expect(outcome.outcome, outcome.outcome).toBeTruthy();
      expect(outcome.held, outcome.outcome).toBe(true);
    });
});

describe("a host without user namespaces", () => {
  it("makes hypwatch check refuse to build, saying what to change", async () => {
    const repo = await smallRepo({ README: "not a kernel\n" });
    const cache = await mkdtemp(path.join(os.tmpdir(), "hypwatch-refuse-"));
    try {
      // hypwatch in a user namespace that may create no other: what a container without
      // user namespaces, or user.max_user_namespaces=0, leaves it.
      const cli = path.join(ROOT, "src", "cli", "main.ts");
      const out = await run("bwrap", [
        "--unshare-user",
        "--disable-userns",
        "--uid",
        "1000",
        "--gid",
        "1000",
        "--dev-bind",
        "/",
        "/",
        "--setenv",
        "HYPWATCH_CACHE",
        cache,
        "--",
        path.join(ROOT, "node_modules", ".bin", "tsx"),
        cli,
        "check",
        "--tree",
        repo,
        "--mbox",
        path.join(ROOT, "examples", "gicv2-warn-v1.mbox"),
      ]);
      expect(out.exitCode).toBe(1);
      expect(out.stderr).toMatch(/builds cannot be sandboxed here: unprivileged user namespaces/);
      expect(out.stderr).toMatch(/max_user_namespaces/);
      // Refused before anything was applied: no worktree slot was made.
      expect(await readdir(cache).catch(() => [])).not.toContain("slots");
    } finally {
      await rm(repo, { recursive: true, force: true });
      await rm(cache, { recursive: true, force: true });
    }
  });
});
