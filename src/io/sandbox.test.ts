import { mkdtemp, readFile, rm, writeFile, access } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./exec.js";
import { runSandboxed, type SandboxOptions } from "./sandbox.js";

let dir = "";
let writable = "";
let opts: SandboxOptions;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-sandbox-"));
  writable = path.join(dir, "out");
  await run("mkdir", ["-p", writable]);
  opts = {
    cwd: writable,
    writable: [writable],
    readable: [dir],
    timeoutMs: 20_000,
    memoryBytes: 1024 ** 3,
    logPath: path.join(dir, "log"),
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sh = (script: string, o: Partial<SandboxOptions> = {}) =>
  runSandboxed("bash", ["-c", script], {
    ...opts,
    ...o,
    logPath: path.join(dir, `${Date.now()}.log`),
  });
const log = async (r: { logPath: string }) => readFile(r.logPath, "utf8");

describe("runSandboxed", () => {
  it("lets the command write only where it was allowed", async () => {
    const r = await sh(`echo ok > ${writable}/f && echo x > ${dir}/outside`);
    expect(r.exitCode).not.toBe(0);
    expect(await readFile(path.join(writable, "f"), "utf8")).toBe("ok\n");
    await expect(access(path.join(dir, "outside"))).rejects.toThrow();
    expect(await log(r)).toMatch(/Read-only file system/);
  });

  it("gives a private /tmp and passes none of our environment", async () => {
    await writeFile(path.join(os.tmpdir(), `hypwatch-visible-${process.pid}`), "");
    process.env.HYPWATCH_SECRET = "leaked";
    try {
      const r = await sh(
        `ls /tmp | grep -c hypwatch-visible-${process.pid}; echo tmp-write; touch /tmp/x && echo tmp-ok; echo "env=\${HYPWATCH_SECRET:-none}"`,
      );
      const out = await log(r);
      expect(out).toMatch(/^0$/m);
      expect(out).toMatch(/tmp-ok/);
      expect(out).toMatch(/env=none/);
    } finally {
      delete process.env.HYPWATCH_SECRET;
      await rm(path.join(os.tmpdir(), `hypwatch-visible-${process.pid}`), { force: true });
    }
  });

  it("has no network, not even the host's loopback services", async () => {
    const server = await import("node:net").then((net) => net.createServer((s) => s.destroy()));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as import("node:net").AddressInfo).port;
    try {
      const outside = await run("bash", ["-c", `(exec 3<>/dev/tcp/127.0.0.1/${port}) && echo up`]);
      expect(outside.stdout).toBe("up\n");
      const r = await sh(`(exec 3<>/dev/tcp/127.0.0.1/${port}) && echo up || echo down`);
      expect(await log(r)).toMatch(/^down$/m);
    } finally {
      server.close();
    }
  });

  it("enforces the memory limit", async () => {
    const big = await sh(`python3 -c 'b = bytearray(2 * 1024 ** 3); print("allocated")'`);
    expect(big.exitCode).not.toBe(0);
    expect(await log(big)).toMatch(/MemoryError/);
    const small = await sh(`python3 -c 'b = bytearray(64 * 1024 ** 2); print("allocated")'`);
    expect(small.exitCode).toBe(0);
  });

  it("kills every process of a command that runs over the time limit", async () => {
    const marker = `hypwatch-marker-${process.pid}-${Date.now()}`;
    const started = Date.now();
    const r = await sh(`sleep 317 & sleep 318; : ${marker}`, { timeoutMs: 1500 });
    expect(r.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
    await new Promise((res) => setTimeout(res, 300));
    const ps = await run("ps", ["-eo", "args"]);
    expect(ps.stdout).not.toContain(marker);
    expect(ps.stdout.split("\n").filter((l) => /^sleep 31[78]$/.test(l.trim()))).toEqual([]);
  });
});
