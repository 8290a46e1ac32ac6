import { run } from "./exec.js";
import { DEFAULT_CROSS_COMPILE } from "./binutils.js";

export interface CompileRequest {
  /** C or assembly source. */
  source: string;
  /** Object file to write. */
  output: string;
  /** Flags before `-c`, e.g. `["-O2", "-g"]`. */
  flags: string[];
  cwd?: string;
  crossCompile?: string;
  timeoutMs?: number;
}

export interface CompileResult {
  ok: boolean;
  command: string;
  /** The compiler's diagnostics; for logs and "no verdict" reasons. */
  stderr: string;
}

/** Compile one source file with the cross compiler. A failed compile is a result, not a throw. */
export async function compileObject(req: CompileRequest): Promise<CompileResult> {
  const cc = `${req.crossCompile ?? DEFAULT_CROSS_COMPILE}gcc`;
  const result = await run(cc, [...req.flags, "-c", req.source, "-o", req.output], {
    cwd: req.cwd,
    env: { LC_ALL: "C" },
    timeoutMs: req.timeoutMs ?? 120_000,
  });
  return { ok: result.exitCode === 0, command: result.command, stderr: result.stderr };
}
