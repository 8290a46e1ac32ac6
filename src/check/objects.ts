/** Reading one relocatable object through binutils, and mapping its sites back to source. */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { resolve } from "node:path";
import { addressesToLines, disassemble, readElf, type BinutilsOptions } from "../io/binutils.js";
import {
  parseAddr2line,
  parseDisassembly,
  parseElfListing,
  symbolAt,
  type DisassembledInstruction,
  type ElfSection,
  type ElfSymbol,
  type Relocation,
} from "./elf.js";
import { treeRelative } from "../io/kbuild-files.js";
import type { InlineFrame } from "./types.js";

export interface ObjectInfo {
  /** As given (relative to the binutils cwd, or absolute). */
  path: string;
  sections: ElfSection[];
  symbols: ElfSymbol[];
  /** Those of every section but debug information's. */
  relocations: Relocation[];
}

/** Objects named on one binutils command line. */
const BATCH = 100;

/**
 * Object paths the tools print as they are in the line that starts each object's part of
 * their output. readelf and objdump print control characters in names as `^J`, so what an
 * object holds cannot forge such a line; any other path is read on its own.
 */
const PLAIN_PATH = /^[\w./+-]+$/;

/** The line that starts each object's part of a program's output over many objects. */
export const OPENS = {
  readelf: (line: string, object: string) => line === `File: ${object}`,
  objdump: (line: string, object: string) => line.startsWith(`${object}:     file format `),
};

/** `text` cut at each object's opening line, in order; null unless those are exactly there. */
export function splitByObject(
  text: string,
  objects: readonly string[],
  opens: (line: string, object: string) => boolean,
): string[] | null {
  const parts: string[][] = [];
  for (const line of text.split("\n")) {
    const next = objects[parts.length];
    if (next !== undefined && opens(line, next)) parts.push([]);
    else parts.at(-1)?.push(line);
  }
  return parts.length === objects.length ? parts.map((lines) => lines.join("\n")) : null;
}

/**
 * One binutils program's output for each object, run over many objects at once (a spawn
 * costs more than reading a small object). A batch that fails is run again an object at a
 * time, so that the error names the object.
 */
async function perObject(
  objects: readonly string[],
  tool: (objects: readonly string[]) => Promise<string>,
  opens: (line: string, object: string) => boolean,
): Promise<string[]> {
  const plain = objects.filter((o) => PLAIN_PATH.test(o));
  const groups: string[][] = objects.filter((o) => !PLAIN_PATH.test(o)).map((o) => [o]);
  for (let i = 0; i < plain.length; i += BATCH) groups.push(plain.slice(i, i + BATCH));
  const texts = new Map<string, string>();
  for (const group of groups) {
    const parts =
      group.length > 1
        ? await tool(group).then(
            (text) => splitByObject(text, group, opens),
            () => null,
          )
        : null;
    for (const [i, object] of group.entries())
      texts.set(object, parts?.[i] ?? (await tool([object])));
  }
  return objects.map((o) => texts.get(o) ?? "");
}

/** Sections, symbols and relocations of each object, read with one readelf per batch. */
export async function readObjects(
  paths: readonly string[],
  opts: BinutilsOptions,
): Promise<ObjectInfo[]> {
  const texts = await perObject(paths, (objects) => readElf(objects, opts), OPENS.readelf);
  return texts.map((text, i) => ({ path: paths[i] ?? "", ...parseElfListing(text) }));
}

export async function readObject(path: string, opts: BinutilsOptions): Promise<ObjectInfo> {
  const [info] = await readObjects([path], opts);
  if (!info) throw new Error(`${path}: not read`);
  return info;
}

/** The instructions of each object's executable sections, with one objdump per batch. */
export async function readInstructions(
  paths: readonly string[],
  opts: BinutilsOptions,
): Promise<DisassembledInstruction[][]> {
  const texts = await perObject(paths, (objects) => disassemble(objects, opts), OPENS.objdump);
  return texts.map(parseDisassembly);
}

/** sha256 of a file the build wrote, streamed (an object may be as big as the file-size bound). */
async function fileDigest(file: string): Promise<string> {
  const hash = createHash("sha256");
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  const handle = await open(file, flags);
  for await (const chunk of handle.createReadStream()) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * What was read from objects, keyed by the object's path and content: the steps of one
 * series rebuild a few objects each, and every other object is read once for all of them.
 */
export class ObjectMemo {
  private readonly entries = new Map<string, Promise<unknown>>();

  private async key(kind: string, path: string, opts: BinutilsOptions): Promise<string> {
    const file = resolve(opts.cwd ?? ".", path);
    return `${kind}\0${file}\0${await fileDigest(file)}`;
  }

  private remember<T>(key: string, entry: Promise<T>): Promise<T> {
    this.entries.set(key, entry);
    // A failed read is not remembered: the next step tries again.
    entry.catch(() => this.entries.delete(key));
    return entry;
  }

  /** `read(path)`'s result for the object as it is now (`kind` names what `read` reads). */
  async get<T>(
    kind: string,
    path: string,
    opts: BinutilsOptions,
    read: (path: string) => Promise<T>,
  ): Promise<T> {
    const key = await this.key(kind, path, opts);
    return (this.entries.get(key) as Promise<T> | undefined) ?? this.remember(key, read(path));
  }

  /** `get` for many objects, those not read yet read together by one `read` call. */
  async getMany<T>(
    kind: string,
    paths: readonly string[],
    opts: BinutilsOptions,
    read: (paths: readonly string[]) => Promise<T[]>,
  ): Promise<T[]> {
    const keys = await Promise.all(paths.map((p) => this.key(kind, p, opts)));
    const missing = new Map<string, string>();
    keys.forEach((key, i) => {
      if (!this.entries.has(key)) missing.set(key, paths[i] ?? "");
    });
    if (missing.size > 0) {
      const batch = read([...missing.values()]);
      [...missing.keys()].forEach((key, i) =>
        this.remember(
          key,
          batch.then((results) => results[i] as T),
        ),
      );
    }
    return Promise.all(keys.map((key) => this.entries.get(key) as Promise<T>));
  }
}

export function sectionByName(obj: ObjectInfo, name: string): ElfSection | undefined {
  return obj.sections.find((s) => s.name === name);
}

export function isUndefinedIn(obj: ObjectInfo, name: string): boolean {
  return obj.symbols.some((s) => s.name === name && s.ndx === "UND");
}

/** A site (section + offset) of an object, resolved to source. */
export interface SourceSite {
  section: string;
  offset: number;
  /** Innermost first, outermost last. */
  chain: InlineFrame[];
  /** The emitted function (outermost frame), or the symbol covering the offset. */
  function: string | null;
  /** The innermost location. */
  file: string | null;
  line: number | null;
}

export interface SiteContext {
  srcDir: string;
  buildDir?: string;
  /** Used when debug information does not map a site. */
  fallbackFile: string | null;
}

/** Map section offsets of `obj` to source with addr2line, one call per section. */
export async function resolveSites(
  obj: ObjectInfo,
  wanted: readonly { section: string; offset: number }[],
  ctx: SiteContext,
  opts: BinutilsOptions,
): Promise<SourceSite[]> {
  const bySection = new Map<string, number[]>();
  for (const w of wanted) {
    const list = bySection.get(w.section) ?? [];
    list.push(w.offset);
    bySection.set(w.section, list);
  }
  const sites: SourceSite[] = [];
  for (const [section, offsets] of bySection) {
    const unique = [...new Set(offsets)].sort((a, b) => a - b);
    const index = sectionByName(obj, section)?.index ?? -1;
    const resolved = parseAddr2line(await addressesToLines(obj.path, section, unique, opts));
    for (const offset of unique) {
      const entry = resolved.find((r) => r.address === offset);
      const chain: InlineFrame[] = (entry?.frames ?? [])
        .filter((f) => f.function !== "??" || f.file !== "??")
        .map((f) => ({
          function: f.function,
          file: f.file === "??" ? "??" : treeRelative(f.file, ctx.srcDir, ctx.buildDir),
          line: f.line,
        }));
      const inner = chain[0];
      const outer = chain[chain.length - 1];
      const covering = symbolAt(obj.symbols, index, offset);
      const fn = outer && outer.function !== "??" ? outer.function : (covering?.name ?? null);
      const hasFile = inner && inner.file !== "??";
      sites.push({
        section,
        offset,
        chain,
        function: fn,
        file: hasFile ? inner.file : ctx.fallbackFile,
        line: hasFile ? inner.line : null,
      });
    }
  }
  return sites;
}
