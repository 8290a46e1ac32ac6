/** Reading one relocatable object through binutils, and mapping its sites back to source. */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { resolve } from "node:path";
import {
  addressesToLines,
  disassemble,
  readRelocations,
  readSectionHeaders,
  readSymbolTable,
  type BinutilsOptions,
} from "../io/binutils.js";
import {
  parseAddr2line,
  parseDisassembly,
  parseRelocations,
  parseSectionHeaders,
  parseSymbolTable,
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
  relocations: Relocation[];
}

export async function readObject(path: string, opts: BinutilsOptions): Promise<ObjectInfo> {
  const [sections, symbols, relocations] = await Promise.all([
    readSectionHeaders(path, opts).then(parseSectionHeaders),
    readSymbolTable(path, opts).then(parseSymbolTable),
    readRelocations(path, opts).then(parseRelocations),
  ]);
  return { path, sections, symbols, relocations };
}

export async function readInstructions(
  path: string,
  opts: BinutilsOptions,
): Promise<DisassembledInstruction[]> {
  return parseDisassembly(await disassemble(path, opts));
}

/**
 * What was read from objects, keyed by the object's path and content: the steps of one
 * series rebuild a few objects each, and every other object is read once for all of them.
 */
/** sha256 of a file the build wrote, streamed (an object may be as big as the file-size bound). */
async function fileDigest(file: string): Promise<string> {
  const hash = createHash("sha256");
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  const handle = await open(file, flags);
  for await (const chunk of handle.createReadStream()) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export class ObjectMemo {
  private readonly entries = new Map<string, Promise<unknown>>();

  /** `read(path)`'s result for the object as it is now (`kind` names what `read` reads). */
  async get<T>(
    kind: string,
    path: string,
    opts: BinutilsOptions,
    read: (path: string) => Promise<T>,
  ): Promise<T> {
    const file = resolve(opts.cwd ?? ".", path);
    const digest = await fileDigest(file);
    const key = `${kind}\0${file}\0${digest}`;
    let entry = this.entries.get(key) as Promise<T> | undefined;
    if (!entry) {
      entry = read(path);
      this.entries.set(key, entry);
      // A failed read is not remembered: the next step tries again.
      entry.catch(() => this.entries.delete(key));
    }
    return entry;
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
