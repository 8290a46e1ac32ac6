import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { binutilsVersions } from "../io/binutils.js";

const here = path.dirname(fileURLToPath(import.meta.url));

/** The io modules the analysis reads its evidence through: binutils and Kbuild's files. */
const IO_INPUTS = /^(binutils|kbuild-files)\.(ts|js)$/;

let memo: Promise<string> | null = null;

/**
 * Identity of the analysis: the code of this directory and of the io modules it reads
 * evidence through (`IO_INPUTS`; as loaded, source or compiled), and the versions of the binutils it runs. Stored results of
 * an analysis are reused only under the same fingerprint, so a change to any rule, parser
 * or tool discards them.
 */
export function analyzerFingerprint(): Promise<string> {
  memo ??= (async () => {
    const hash = createHash("sha256");
    const names = (await readdir(here))
      .filter((n) => /\.(ts|js)$/.test(n) && !/\.test\.(ts|js)$/.test(n))
      .sort();
    const files = [
      ...names.map((n) => path.join(here, n)),
      ...(await readdir(path.join(here, "..", "io")))
        .filter((n) => IO_INPUTS.test(n))
        .map((n) => path.join(here, "..", "io", n)),
    ];
    for (const file of files) hash.update(path.basename(file)).update(await readFile(file));
    for (const version of await binutilsVersions()) hash.update(version);
    return hash.digest("hex").slice(0, 16);
  })();
  return memo;
}
