import { open } from "node:fs/promises";
import path from "node:path";
import { run } from "./exec.js";
import { HypwatchError } from "../errors.js";

/** The cross binutils prefix used for arm64 kernel objects. */
export const DEFAULT_CROSS_COMPILE = "aarch64-linux-gnu-";

/** A binutils program failed on an object; names the object and the tool. */
export class BinutilsError extends HypwatchError {
  // The same tool fails the same way on the same object.
  readonly kind = "permanent";
  constructor(
    readonly tool: string,
    readonly object: string,
    readonly reason: string,
  ) {
    super(`${tool} ${object}: ${reason}`);
  }
}

export interface BinutilsOptions {
  /** Directory relative object paths are resolved against (a kernel build dir). */
  cwd?: string;
  /** Tool prefix, `aarch64-linux-gnu-` by default. */
  crossCompile?: string;
}

async function tool(
  name: string,
  args: string[],
  object: string,
  opts: BinutilsOptions,
): Promise<string> {
  const file = `${opts.crossCompile ?? DEFAULT_CROSS_COMPILE}${name}`;
  const result = await run(file, args, { cwd: opts.cwd, env: { LC_ALL: "C" } });
  if (result.exitCode !== 0) {
    const reason = result.stderr.trim().split("\n")[0] || `exit code ${result.exitCode}`;
    throw new BinutilsError(name, object, reason);
  }
  return result.stdout;
}

/** The first `--version` line of each binutils program the analysis runs. */
export async function binutilsVersions(opts: BinutilsOptions = {}): Promise<string[]> {
  const prefix = opts.crossCompile ?? DEFAULT_CROSS_COMPILE;
  return Promise.all(
    ["readelf", "objdump", "nm", "addr2line", "ld"].map(async (name) => {
      const result = await run(`${prefix}${name}`, ["--version"]);
      return result.stdout.split("\n")[0] ?? "";
    }),
  );
}

/**
 * `readelf -W -S -r -s`: section headers, relocations and symbol table, in that order; with
 * more than one object, each object's part follows a `File: <object>` line. One process for
 * many objects: a spawn costs more than reading a small object.
 */
export function readElf(objects: readonly string[], opts: BinutilsOptions = {}): Promise<string> {
  return tool("readelf", ["-W", "-S", "-r", "-s", ...objects], objects.join(" "), opts);
}

/** `readelf -W -r`: every relocation section. */
export function readRelocations(object: string, opts: BinutilsOptions = {}): Promise<string> {
  return tool("readelf", ["-W", "-r", object], object, opts);
}

/** `nm -u`: the undefined symbols. */
export function listUndefinedSymbols(object: string, opts: BinutilsOptions = {}): Promise<string> {
  return tool("nm", ["-u", object], object, opts);
}

/**
 * `objdump -d --no-show-raw-insn`: disassembly of the executable sections, each object's
 * after a `<object>:     file format <format>` line.
 */
export function disassemble(
  objects: readonly string[],
  opts: BinutilsOptions = {},
): Promise<string> {
  return tool("objdump", ["-d", "--no-show-raw-insn", ...objects], objects.join(" "), opts);
}
/**
 * `addr2line -a -i -f -j <section>` for section-relative offsets of a relocatable object:
 * the source line of each offset with the chain of functions inlined there.
 */
export async function addressesToLines(
  object: string,
  section: string,
  offsets: readonly number[],
  opts: BinutilsOptions = {},
): Promise<string> {
  if (offsets.length === 0) return "";
  const addrs = offsets.map((o) => `0x${o.toString(16)}`);
  return tool("addr2line", ["-a", "-i", "-f", "-e", object, "-j", section, ...addrs], object, opts);
}

/**
 * The flags of the arm64 vmlinux link (arch/arm64/Makefile, CONFIG_RELOCATABLE, little
 * endian; big-endian objects swap in BIG_ENDIAN_FLAGS) that decide what it accepts: no
 * undefined symbol, a PIE-like shared image.
 */
export const VMLINUX_LINK_FLAGS: readonly string[] = [
  "-EL",
  "-maarch64elf",
  "-z",
  "noexecstack",
  "--no-undefined",
  "-X",
  "--pic-veneer",
  "-shared",
  "-Bsymbolic",
  "-z",
  "notext",
  "--no-apply-dynamic-relocs",
];

/** What `ld` said about a link: a failed link is evidence, not an error of the tool. */
export interface LinkOutcome {
  /** The program as ld names itself at the start of its messages. */
  program: string;
  exitCode: number;
  /** Kept for parsing and logs, never for public mail. */
  stderr: string;
}

/** A CPU_BIG_ENDIAN kernel links with these instead (arch/arm64/Makefile). */
const BIG_ENDIAN_FLAGS: Readonly<Record<string, string>> = {
  "-EL": "-EB",
  "-maarch64elf": "-maarch64elfb",
};

/** Whether `file` is a big-endian ELF object (`EI_DATA` of its identification bytes). */
async function isBigEndianElf(file: string): Promise<boolean> {
  const handle = await open(file, "r").catch(() => null);
  if (!handle) return false;
  try {
    const ident = Buffer.alloc(6);
    await handle.read(ident, 0, 6, 0);
    return ident.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) && ident[5] === 2;
  } finally {
    await handle.close();
  }
}

/**
 * `ld` with the vmlinux link's flags on `objects` and the linker script `script` (read as
 * an input, beside ld's default script), writing `output`. Throws BinutilsError only when
 * ld cannot be run or runs over its time.
 */
export async function linkLikeVmlinux(
  objects: readonly string[],
  script: string,
  output: string,
  opts: BinutilsOptions = {},
): Promise<LinkOutcome> {
  const program = `${opts.crossCompile ?? DEFAULT_CROSS_COMPILE}ld`;
  const first = objects[0];
  const bigEndian =
    first !== undefined && (await isBigEndianElf(path.resolve(opts.cwd ?? ".", first)));
  const flags = bigEndian
    ? VMLINUX_LINK_FLAGS.map((f) => BIG_ENDIAN_FLAGS[f] ?? f)
    : VMLINUX_LINK_FLAGS;
  const result = await run(program, [...flags, "-o", output, script, ...objects], {
    cwd: opts.cwd,
    env: { LC_ALL: "C" },
    timeoutMs: 120_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const object = objects.join(" ");
  if (result.timedOut) throw new BinutilsError("ld", object, "timed out");
  if (result.exitCode < 0) throw new BinutilsError("ld", object, "did not run");
  return { program, exitCode: result.exitCode, stderr: result.stderr };
}
