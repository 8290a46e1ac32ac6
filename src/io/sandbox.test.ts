import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sandboxAttacks, tearDownSandboxScene } from "../../scripts/attack/sandbox.js";
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
