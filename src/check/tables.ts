/**
 * Kernel tables whose entries point back at code: a static key's `__jump_table` entry, an
 * alternative callback's `.altinstructions` entry, a `BUG()`'s `__bug_table` entry, an
 * exception-table entry. A reference to a kernel symbol held in one of them is written at
 * the code its entry points to, so that is where a finding belongs. Pure.
 */
import type { ElfSection, ElfSymbol, Relocation } from "./elf.js";

interface TableLayout {
  /** Bytes per entry; entries are packed from the start of the section. */
  entrySize: number;
  /** Where in an entry the place-relative pointer to the code is. */
  codeField: number;
  /** Headers that write such entries: their lines say nothing about the caller's code. */
  machinery: RegExp;
}

/** arm64's layouts (linux 5.9 to 6.x): every entry starts with the code's offset. */
export const CODE_TABLES: Readonly<Record<string, TableLayout>> = {
  // struct jump_entry { s32 code; s32 target; long key; }
  __jump_table: { entrySize: 16, codeField: 0, machinery: /(?:^|\/)jump_label\.h$/ },
  // struct alt_instr { s32 orig_offset; s32 alt_offset; u16 cpufeature; u8 orig_len, alt_len; }
  ".altinstructions": { entrySize: 12, codeField: 0, machinery: /(?:^|\/)alternative[\w-]*\.h$/ },
  // struct bug_entry { s32 bug_addr_disp; s32 file_disp; u16 line; u16 flags; } (BUGVERBOSE)
  __bug_table: { entrySize: 12, codeField: 0, machinery: /(?:^|\/)(?:asm-)?bug\.h$/ },
  // _kvm_extable: .long (from - .), (to - .)
  __kvm_ex_table: { entrySize: 8, codeField: 0, machinery: /(?:^|\/)kvm_asm\.h$/ },
  // struct exception_table_entry { int insn, fixup; short type, data; }
  __ex_table: { entrySize: 12, codeField: 0, machinery: /(?:^|\/)(?:asm-)?extable\.h$/ },
};

/**
 * An inline chain (innermost first) at a table entry's code without the innermost frames
 * in the headers that write such entries (`arch_static_branch()` in jump_label.h): what is
 * left starts at the line that tests the key or takes the alternative. All of it when
 * nothing is left.
 */
export function beyondMachinery<T extends { file: string }>(
  table: string,
  chain: readonly T[],
): T[] {
  const machinery = CODE_TABLES[table]?.machinery;
  if (!machinery) return [...chain];
  const first = chain.findIndex((frame) => !machinery.test(frame.file));
  return first < 0 ? [...chain] : chain.slice(first);
}

/** A place in an object's section. */
export interface CodePlace {
  section: string;
  offset: number;
}

/**
 * The code a relocation in a table entry stands for: the target of the entry's code
 * pointer. Null when `r` is not in a known table, or the entry's code pointer is not a
 * relocation against a section or a symbol defined in this object.
 */
export function codePlaceOf(
  r: Relocation,
  relocations: readonly Relocation[],
  sections: readonly ElfSection[],
  symbols: readonly ElfSymbol[],
): CodePlace | null {
  const layout = CODE_TABLES[r.section];
  if (!layout) return null;
  const entry = r.offset - (r.offset % layout.entrySize);
  const pointer = relocations.find(
    (p) => p.section === r.section && p.offset === entry + layout.codeField,
  );
  if (!pointer || pointer === r) return null;
  const bySection = sections.find((s) => s.name === pointer.symbol);
  if (bySection) return bySection.exec ? { section: bySection.name, offset: pointer.addend } : null;
  const symbol = symbols.find(
    (s) => s.name === pointer.symbol && s.ndx !== "UND" && /^\d+$/.test(s.ndx),
  );
  const home = symbol ? sections.find((s) => String(s.index) === symbol.ndx) : undefined;
  if (!symbol || !home?.exec) return null;
  return { section: home.name, offset: symbol.value + pointer.addend };
}
