import { readdir } from "node:fs/promises";
import { readUntrustedFile } from "../io/untrusted.js";
import path from "node:path";
import { kbuildInputs, treeRelative } from "../io/kbuild-files.js";
import { gitOk } from "../io/git.js";
import pMap from "p-map";

/**
 * Every tree file the last build in `buildDir` read, relative to the tree: the sources and
 * headers that Kbuild's fixdep recorded in the `.cmd` file of each target it made.
 */
export async function buildInputs(buildDir: string, srcDir: string): Promise<Set<string>> {
  const lists = await pMap(
    await cmdFiles(buildDir),
    async (f) => kbuildInputs(await readUntrustedFile(f).catch(() => "")),
    { concurrency: 8 },
  );
  const out = new Set<string>();
  for (const list of lists) for (const file of list) out.add(treeRelative(file, srcDir, buildDir));
  return out;
}

/** The `.cmd` files under `dir`, not following symlinks (Kbuild's `source` link is the tree). */
async function cmdFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await cmdFiles(full)));
    else if (entry.isFile() && /^\..+\.cmd$/.test(entry.name)) out.push(full);
  }
  return out;
}

/** The hyp code's own directories: any change below them is rebuilt, whatever it is. */
const HYP_DIRS = ["arch/arm64/kvm/hyp/", "virt/kvm/arm/hyp/"];
/** Below them, the VHE code, which is not built (`HYP_TARGETS`): its sources count when read. */
const VHE_DIR = "arch/arm64/kvm/hyp/vhe/";

/**
 * Whether changing `files` (tree-relative, as `git diff --name-only` lists them) can change
 * a build whose inputs were `inputs`. C and assembly sources and headers matter only when
 * the build read them; anything else (Makefiles, Kconfig, linker scripts, the generators'
 * inputs under arch/arm64/tools) and anything in the hyp directories always does.
 */
export function changesBuild(files: readonly string[], inputs: ReadonlySet<string>): boolean {
  const hyp = (f: string) => HYP_DIRS.some((d) => f.startsWith(d)) && !f.startsWith(VHE_DIR);
  return files.some((f) => !/\.(c|h|S)$/.test(f) || hyp(f) || inputs.has(f));
}

/** The files that differ between two commits, old and new names of renames both listed. */
export async function changedFiles(repo: string, from: string, to: string): Promise<string[]> {
  const out = await gitOk(repo, ["diff", "--name-only", "--no-renames", "-z", from, to]);
  return out.split("\0").filter((f) => f.length > 0);
}
