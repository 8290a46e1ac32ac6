/**
 * The Kconfig options the hyp build depends on, found from a built tree rather than from
 * a list: every option fixdep recorded for the hyp objects (and the linker scripts the
 * analysis reads), and every option the hyp Makefiles test.
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { readContained, readUntrustedFile } from "../io/untrusted.js";
import {
  cmdFileOptions,
  makefileOptions,
  mergeKconfigSymbols,
  parseKconfig,
  type KconfigSymbol,
} from "./kconfig.js";

/** Build-dir directories whose `.cmd` files are read (recursively). */
export const HYP_CMD_DIRS = ["arch/arm64/kvm/hyp"] as const;
/** Single `.cmd` files read besides: the linker script that holds the nVHE alias list. */
export const HYP_CMD_FILES = ["arch/arm64/kernel/.vmlinux.lds.cmd"] as const;
/** Source directory whose Makefiles are read (recursively). */
export const HYP_MAKEFILE_DIR = "arch/arm64/kvm/hyp";

export interface HypOptions {
  /** Option -> the `.cmd` files (build-dir relative) or Makefiles (tree relative) naming it. */
  sources: Map<string, string[]>;
  cmdFiles: number;
  makefiles: number;
}

const note = (sources: Map<string, string[]>, option: string, where: string) => {
  const list = sources.get(option);
  if (list) list.push(where);
  else sources.set(option, [where]);
};

async function filesUnder(root: string, dir: string, keep: (name: string) => boolean) {
  const entries = await readdir(path.join(root, dir), { recursive: true }).catch(
    () => [] as string[],
  );
  return entries
    .filter((e) => keep(path.basename(e)))
    .map((e) => path.join(dir, e))
    .sort();
}

/**
 * The options the hyp build of `buildDir` (built from `srcDir`) depends on. Union the
 * results of several configurations' build directories: a header included only when an
 * option is on is read, and its options recorded, only in a build that has it on.
 */
export async function hypBuildOptions(srcDir: string, buildDir: string): Promise<HypOptions> {
  const sources = new Map<string, string[]>();
  const cmdFiles: string[] = [];
  for (const dir of HYP_CMD_DIRS)
    cmdFiles.push(
      ...(await filesUnder(buildDir, dir, (n) => n.startsWith(".") && n.endsWith(".cmd"))),
    );
  cmdFiles.push(...HYP_CMD_FILES);
  let readCmd = 0;
  for (const file of cmdFiles) {
    const text = await readUntrustedFile(path.join(buildDir, file)).catch(() => null);
    if (text === null) continue;
    readCmd++;
    for (const option of cmdFileOptions(text)) note(sources, option, file);
  }
  const makefiles = await filesUnder(srcDir, HYP_MAKEFILE_DIR, (n) => n === "Makefile");
  for (const file of makefiles) {
    const text = await readContained(srcDir, path.join(srcDir, file));
    for (const option of makefileOptions(text)) note(sources, option, file);
  }
  return { sources, cmdFiles: readCmd, makefiles: makefiles.length };
}

/** Merge several `hypBuildOptions` results. */
export function unionHypOptions(results: readonly HypOptions[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of results)
    for (const [option, where] of r.sources)
      for (const w of where) if (!out.get(option)?.includes(w)) note(out, option, w);
  return out;
}

/**
 * The Kconfig symbols an arm64 build can see: every `Kconfig*` file of the tree except
 * those of other architectures (a close superset of what `arch/arm64/Kconfig` sources).
 */
export async function arm64KconfigSymbols(srcDir: string): Promise<Map<string, KconfigSymbol>> {
  const entries = await readdir(srcDir, { recursive: true });
  const files = entries
    .filter((e) => path.basename(e).startsWith("Kconfig"))
    .filter((e) => !/^arch\/(?!arm64\/)[^/]+\//.test(e) && !/^(tools|Documentation)\//.test(e))
    .sort();
  const all: KconfigSymbol[] = [];
  for (const file of files)
    all.push(...parseKconfig(await readContained(srcDir, path.join(srcDir, file)), file));
  return mergeKconfigSymbols(all);
}
