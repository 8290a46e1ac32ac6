/** Reading what Kbuild leaves in a build dir: `.<obj>.cmd` files and Makefiles. Pure. */
import path from "node:path";

export interface KbuildCommand {
  /** The object as Kbuild names it (relative to the build dir, `..` kept). */
  target: string;
  /** The command line, split on whitespace (quotes kept as written). */
  argv: string[];
  /** The source file, when the `.cmd` names one (`source_<obj> := ...`). */
  source: string | null;
}

/** Parse a Kbuild `.cmd` file. Returns null when it has no `cmd_` line. */
export function parseKbuildCmd(text: string): KbuildCommand | null {
  const cmd = /^cmd_(\S+) := (.*)$/m.exec(text);
  if (!cmd) return null;
  const source = /^source_\S+ := (.*)$/m.exec(text);
  return {
    target: cmd[1] ?? "",
    argv: (cmd[2] ?? "").split(/\s+/).filter((a) => a.length > 0),
    source: source?.[1]?.trim() ?? null,
  };
}

/**
 * The files a Kbuild target was made from, as its `.cmd` file lists them: the `source_`
 * file and every `deps_` entry that fixdep recorded (headers included), without the
 * `$(wildcard include/config/...)` entries, which stand for Kconfig options.
 */
export function kbuildInputs(text: string): string[] {
  const out: string[] = [];
  const source = /^source_\S+ := (.*)$/m.exec(text)?.[1]?.trim();
  if (source) out.push(source);
  const deps = /^deps_\S+ := \\\n((?:.*\\\n)*.*)$/m.exec(text)?.[1] ?? "";
  for (const line of deps.split("\n")) {
    const entry = line.replace(/\\$/, "").trim();
    if (entry && !entry.startsWith("$(")) out.push(entry);
  }
  return out;
}

/** The path of the `.cmd` file Kbuild writes for `object` (both relative to the build dir). */
export function cmdFileOf(object: string): string {
  const normal = path.posix.normalize(object);
  return path.posix.join(path.posix.dirname(normal), `.${path.posix.basename(normal)}.cmd`);
}

/** The `.o` inputs of a link command (`ld -r ... a.o b.o -o out.o`), in order. */
export function linkInputs(argv: readonly string[]): string[] {
  const inputs: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "-o" || arg === "-T") {
      i++;
      continue;
    }
    if (!arg.startsWith("-") && arg.endsWith(".o")) inputs.push(arg);
  }
  return inputs;
}

/** A source path made relative to the kernel tree when it lies inside it (or the build dir). */
export function treeRelative(file: string, srcDir: string, buildDir?: string): string {
  for (const root of [srcDir, buildDir]) {
    if (!root) continue;
    const rel = path.relative(root, file);
    if (rel && !rel.startsWith("..") && !path.isAbsolute(rel)) return rel;
  }
  return file.startsWith("./") ? file.slice(2) : file;
}

/** A Makefile with backslash continuations joined; each logical line keeps its first line number. */
export function makefileLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const physical = text.split("\n");
  for (let i = 0; i < physical.length; i++) {
    const start = i + 1;
    let joined = physical[i] ?? "";
    while (joined.endsWith("\\") && i + 1 < physical.length) {
      joined = joined.slice(0, -1) + " " + (physical[++i] ?? "");
    }
    const withoutComment = joined.replace(/(^|[^\\])#.*$/, "$1");
    if (withoutComment.trim())
      out.push({ line: start, text: withoutComment.replace(/\s+/g, " ").trim() });
  }
  return out;
}
