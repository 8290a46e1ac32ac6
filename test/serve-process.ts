import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { writeFile } from "node:fs/promises";
import { stringify } from "yaml";
import type { SourceConfig } from "../src/config.js";
import type { LogLine } from "./log-capture.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

/** A real `hypwatch serve` process (from source), its stderr read as log lines. */
export interface ServeProcess {
  proc: ChildProcess;
  /** Everything it wrote to stderr and stdout. */
  output: () => string;
  lines: () => LogLine[];
  waitFor: (msg: string, timeoutMs?: number) => Promise<LogLine>;
  /** Resolves with the exit code and the milliseconds since `since`. */
  exited: (since: number) => Promise<{ code: number | null; afterMs: number }>;
}

export function startServe(env: Record<string, string>): ServeProcess {
  const proc = spawn(process.execPath, ["--import", TSX, "src/cli/main.ts", "serve"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  proc.stderr?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const exit = once(proc, "exit") as Promise<[number | null]>;
  const lines = () =>
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LogLine);
  return {
    proc,
    output: () => out,
    lines,
    async waitFor(msg, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = lines().find((l) => l.msg === msg);
        if (line) return line;
        if (Date.now() > deadline || proc.exitCode !== null)
          throw new Error(`no "${msg}" from hypwatch serve; it wrote:\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async exited(since) {
      const [code] = await exit;
      return { code, afterMs: Date.now() - since };
    },
  };
}

/** A config file (in `dir`) watching one list, `kvmarm`, through `sources`. */
export async function writeServiceConfig(
  dir: string,
  sources: SourceConfig[] | Record<string, unknown>[],
  policies: Record<string, number> = {},
): Promise<string> {
  const file = path.join(dir, "hypwatch.yaml");
  await writeFile(file, stringify({ lists: [{ name: "kvmarm", sources }], policies }));
  return file;
}

/** The environment of a `hypwatch serve` process of a test, a benchmark or the replay. */
export function serveEnv(opts: {
  config: string;
  redisUrl: string;
  prefix: string;
  cacheDir: string;
  tree?: string;
}): Record<string, string> {
  return {
    HYPWATCH_CONFIG: opts.config,
    HYPWATCH_REDIS_URL: opts.redisUrl,
    HYPWATCH_QUEUE_PREFIX: opts.prefix,
    HYPWATCH_CACHE: opts.cacheDir,
    HYPWATCH_METRICS_PORT: "0",
    ...(opts.tree ? { HYPWATCH_LINUX_TREE: opts.tree } : {}),
  };
}
