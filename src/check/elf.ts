/**
 * Parsers for the text binutils prints about relocatable arm64 objects. Pure: they take the
 * tool output (captured by src/io/binutils.ts) and return data.
 */

export interface ElfSection {
  index: number;
  name: string;
  type: string;
  size: number;
  flags: string;
  /** SHF_ALLOC: the section takes memory in the running image. */
  alloc: boolean;
  /** SHF_EXECINSTR. */
  exec: boolean;
}

export interface ElfSymbol {
  value: number;
  size: number;
  type: string;
  bind: string;
  /** `UND`, `ABS`, `COM` or a section index as a decimal string. */
  ndx: string;
  name: string;
}

export interface Relocation {
  /** The section the relocation patches (`.text` for `.rela.text`). */
  section: string;
  offset: number;
  type: string;
  /** Symbol name; for a section symbol readelf prints the section name. */
  symbol: string;
  addend: number;
}

export interface AddressLines {
  address: number;
  /** Innermost first; the last frame is the emitted function. */
  frames: { function: string; file: string; line: number | null }[];
}

/** `readelf -W -S`. */
export function parseSectionHeaders(text: string): ElfSection[] {
  const sections: ElfSection[] = [];
  const re =
    /^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([A-Za-z]*)\s+\d+\s+\d+\s+\d+\s*$/;
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    const flags = m[5] ?? "";
    sections.push({
      index: Number(m[1]),
      name: m[2] ?? "",
      type: m[3] ?? "",
      size: parseInt(m[4] ?? "0", 16),
      flags,
      alloc: flags.includes("A"),
      exec: flags.includes("X"),
    });
  }
  return sections;
}

/** `readelf -W -s` (the `.symtab` table). */
export function parseSymbolTable(text: string): ElfSymbol[] {
  const symbols: ElfSymbol[] = [];
  const re = /^\s*\d+:\s+([0-9a-f]+)\s+(\d+|0x[0-9a-f]+)\s+(\S+)\s+(\S+)\s+\S+\s+(\S+)\s?(.*)$/;
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    const size = m[2] ?? "0";
    symbols.push({
      value: parseInt(m[1] ?? "0", 16),
      size: size.startsWith("0x") ? parseInt(size, 16) : Number(size),
      type: m[3] ?? "",
      bind: m[4] ?? "",
      ndx: m[5] ?? "",
      name: (m[6] ?? "").trim(),
    });
  }
  return symbols;
}

/**
 * `readelf -W -r`: the RELA sections, keyed by the section each applies to; only those of
 * the sections `keep` accepts (all by default).
 */
export function parseRelocations(
  text: string,
  keep: (section: string) => boolean = () => true,
): Relocation[] {
  const relocations: Relocation[] = [];
  let section: string | null = null;
  const header = /^Relocation section '\.rela?(.*)' at offset/;
  const withSymbol =
    /^([0-9a-f]+)\s+[0-9a-f]+\s+(R_\S+)\s+[0-9a-f]+\s+(.*?)\s+([+-])\s+([0-9a-f]+)\s*$/;
  const withoutSymbol = /^([0-9a-f]+)\s+[0-9a-f]+\s+(R_\S+)\s+([0-9a-f]+)\s*$/;
  for (const line of text.split("\n")) {
    const h = header.exec(line);
    if (h) {
      section = keep(h[1] ?? "") ? (h[1] ?? "") : null;
      continue;
    }
    if (section === null) continue;
    const m = withSymbol.exec(line);
    if (m) {
      const magnitude = parseInt(m[5] ?? "0", 16);
      relocations.push({
        section,
        offset: parseInt(m[1] ?? "0", 16),
        type: m[2] ?? "",
        symbol: m[3] ?? "",
        addend: m[4] === "-" ? -magnitude : magnitude,
      });
      continue;
    }
    const n = withoutSymbol.exec(line);
    if (n) {
      relocations.push({
        section,
        offset: parseInt(n[1] ?? "0", 16),
        type: n[2] ?? "",
        symbol: "",
        addend: parseInt(n[3] ?? "0", 16),
      });
    }
  }
  return relocations;
}

/** What `readelf -W -S -r -s` prints of one object, in that order. */
export interface ElfListing {
  sections: ElfSection[];
  symbols: ElfSymbol[];
  relocations: Relocation[];
}

/**
 * `readelf -W -S -r -s` of one object. The relocations of debug information are left out:
 * nothing is judged by them, and they are most of the text.
 */
export function parseElfListing(text: string): ElfListing {
  const symbolTable = text.search(/^Symbol table '/m);
  const head = symbolTable < 0 ? text : text.slice(0, symbolTable);
  return {
    sections: parseSectionHeaders(head),
    relocations: parseRelocations(head, (section) => !section.startsWith(".debug")),
    symbols: symbolTable < 0 ? [] : parseSymbolTable(text.slice(symbolTable)),
  };
}

/** `nm -u`: the names of the undefined symbols. */
export function parseUndefinedSymbols(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s+[Uw]\s+(\S+)\s*$/.exec(line);
    if (m?.[1]) names.push(m[1]);
  }
  return names;
}

/**
 * `addr2line -a -i -f` output: an address line, then function/location pairs, innermost
 * first. Unknown functions and files (`??`) are kept as `??`.
 */
export function parseAddr2line(text: string): AddressLines[] {
  const result: AddressLines[] = [];
  const lines = text.split("\n").filter((l) => l.length > 0);
  let current: AddressLines | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (/^0x[0-9a-f]+$/.test(line)) {
      current = { address: parseInt(line, 16), frames: [] };
      result.push(current);
      continue;
    }
    if (!current) continue;
    const location = lines[i + 1] ?? "??:0";
    i++;
    const loc = /^(.*):(\d+|\?)(?: \(discriminator \d+\))?$/.exec(location);
    const lineNo = loc?.[2] && loc[2] !== "?" ? Number(loc[2]) : null;
    current.frames.push({
      function: line,
      file: loc?.[1] ?? location,
      line: lineNo === 0 ? null : lineNo,
    });
  }
  return result;
}

export interface DisassembledInstruction {
  section: string;
  /** The function symbol the instruction belongs to. */
  function: string;
  offset: number;
  text: string;
}

/** `objdump -d --no-show-raw-insn`: every instruction with its section and function. */
export function parseDisassembly(text: string): DisassembledInstruction[] {
  const out: DisassembledInstruction[] = [];
  let section = "";
  let fn = "";
  for (const line of text.split("\n")) {
    const s = /^Disassembly of section (.*):$/.exec(line);
    if (s) {
      section = s[1] ?? "";
      fn = "";
      continue;
    }
    const f = /^[0-9a-f]+ <(.*)>:$/.exec(line);
    if (f) {
      fn = f[1] ?? "";
      continue;
    }
    const insn = /^\s+([0-9a-f]+):\s+(.*?)\s*$/.exec(line);
    if (insn && section) {
      out.push({
        section,
        function: fn,
        offset: parseInt(insn[1] ?? "0", 16),
        text: (insn[2] ?? "").replace(/\s+/g, " "),
      });
    }
  }
  return out;
}

/** The defined function or object symbol of `section` covering `offset`, if any. */
export function symbolAt(
  symbols: readonly ElfSymbol[],
  sectionIndex: number,
  offset: number,
): ElfSymbol | null {
  let best: ElfSymbol | null = null;
  for (const sym of symbols) {
    if (sym.ndx !== String(sectionIndex)) continue;
    if (sym.type !== "FUNC" && sym.type !== "OBJECT") continue;
    const end = sym.value + Math.max(sym.size, 1);
    if (offset >= sym.value && offset < end && (!best || sym.value >= best.value)) best = sym;
  }
  return best;
}
