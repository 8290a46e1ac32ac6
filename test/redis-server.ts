import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { freePort } from "./free-port.js";

/** A redis-server of a test's own, for outages: the shared one on 6379 is never stopped. */
export interface PrivateRedis {
  port: number;
  /** `redis://[:password@]127.0.0.1:port` */
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * Start a throw-away redis-server on a free port: no persistence, or with `aofDir` an
 * append-only file there, fsynced at every write (by default), so that a restart (even after
 * SIGKILL) loses nothing, as a production Redis with AOF is meant not to.
 */
export async function startPrivateRedis(
  opts: { password?: string; aofDir?: string; appendfsync?: "always" | "everysec" } = {},
): Promise<PrivateRedis> {
  const port = await freePort();
  let proc: ChildProcess | null = null;
  const persistence = opts.aofDir
    ? ["--dir", opts.aofDir, "--appendonly", "yes", "--appendfsync", opts.appendfsync ?? "always"]
    : ["--appendonly", "no"];
  const args = ["--bind", "127.0.0.1", "--port", String(port), "--save", "", ...persistence];
  if (opts.password) args.push("--requirepass", opts.password);
  const redis: PrivateRedis = {
    port,
    url: `redis://${opts.password ? `:${opts.password}@` : ""}127.0.0.1:${port}`,
    async start() {
      proc = spawn("redis-server", args, { stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      proc.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
      const deadline = Date.now() + 5000;
      while (!out.includes("Ready to accept connections")) {
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, "exit");
      proc.kill("SIGKILL");
      await exited;
    },
  };
  await redis.start();
  return redis;
}
