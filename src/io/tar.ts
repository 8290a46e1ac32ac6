import { run } from "./exec.js";

/** A tarball that could not be extracted; output kept for logs. */
export class ExtractError extends Error {
  constructor(
    readonly tarball: string,
    readonly output: string,
  ) {
    super(`cannot extract ${tarball}`);
    this.name = "ExtractError";
  }
}

/** Extract `tarball` (any compression tar recognises) into the existing directory `dest`. */
export async function extractTarball(tarball: string, dest: string): Promise<void> {
  const result = await run("tar", ["-xaf", tarball, "-C", dest], { timeoutMs: 30 * 60_000 });
  if (result.exitCode !== 0) throw new ExtractError(tarball, result.stderr);
}
