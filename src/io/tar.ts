import { run } from "./exec.js";
import { HypwatchError } from "../errors.js";

/** A tarball that could not be extracted; output kept for logs. */
export class ExtractError extends HypwatchError {
  // A damaged tarball or a full disk: another attempt meets the same, an operator acts.
  readonly kind = "permanent";
  constructor(
    readonly tarball: string,
    readonly output: string,
  ) {
    super(`cannot extract ${tarball}`);
  }
}

/** Extract `tarball` (any compression tar recognises) into the existing directory `dest`. */
export async function extractTarball(tarball: string, dest: string): Promise<void> {
  const result = await run("tar", ["-xaf", tarball, "-C", dest], { timeoutMs: 30 * 60_000 });
  if (result.exitCode !== 0) throw new ExtractError(tarball, result.stderr);
}
