import { execa, type Options } from "execa";

/** The result of a finished process. Output is kept for logs, never for public mail. */
export interface ExecResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string | Buffer;
  /** Milliseconds; the process group is killed when it runs over. */
  timeoutMs?: number;
  /** Largest stdout/stderr kept, in bytes. */
  maxBuffer?: number;
}

/**
 * Run a program to completion without a shell. The only place (with the other io modules)
 * that spawns processes. Never throws for a non-zero exit: callers classify failures.
 */
export async function run(
  file: string,
  args: string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const options: Options = {
    cwd: opts.cwd,
    env: opts.env,
    input: opts.input,
    timeout: opts.timeoutMs,
    maxBuffer: opts.maxBuffer ?? 256 * 1024 * 1024,
    reject: false,
    stripFinalNewline: false,
    forceKillAfterDelay: 2000,
  };
  const result = await execa(file, args, options);
  return {
    command: [file, ...args].join(" "),
    exitCode: result.exitCode ?? -1,
    stdout: String(result.stdout ?? ""),
    stderr: String(result.stderr ?? ""),
    timedOut: result.timedOut === true,
  };
}
