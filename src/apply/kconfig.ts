/**
 * Which Kconfig options the hyp build depends on, and what a configuration sets them to.
 * Pure: parsers of Kbuild's `.cmd` files, Makefiles, Kconfig files and `.config`, and the
 * coverage of an option set by a list of configurations (docs/check.md, Configurations).
 */
import { makefileLines } from "../io/kbuild-files.js";

/**
 * The options fixdep recorded in a `.cmd` file: every `CONFIG_` symbol the source and the
 * headers it included mention is a `$(wildcard include/config/<NAME>)` dependency
 * (linux 5.13+), or `include/config/<name/in/lower/case>.h` in older trees.
 */
export function cmdFileOptions(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/\$\(wildcard include\/config\/([^)\s]+)\)/g)) {
    const name = m[1] ?? "";
    out.add(name.endsWith(".h") ? name.slice(0, -2).replace(/\//g, "_").toUpperCase() : name);
  }
  return [...out].sort();
}

/** The `CONFIG_` symbols a Makefile tests (`$(CONFIG_FOO)`, `ifdef CONFIG_FOO`, ...); comments skipped. */
export function makefileOptions(text: string): string[] {
  const out = new Set<string>();
  for (const { text: line } of makefileLines(text))
    for (const m of line.matchAll(/\bCONFIG_([A-Za-z0-9_]+)/g)) if (m[1]) out.add(m[1]);
  return [...out].sort();
}

export type KconfigType = "bool" | "tristate" | "int" | "hex" | "string";

export interface KconfigSymbol {
  name: string;
  /** Null when no definition gives one (a symbol only ever `select`ed or tested). */
  type: KconfigType | null;
  /** Whether a user can set it (some definition has a prompt); else only `select` or a default sets it. */
  prompt: boolean;
  /** The first line of the `choice` block it is a member of (`file:line`), if any. */
  choice: string | null;
  /**
   * Symbols that must be on for it to be visible: those its `depends on` lines and the
   * enclosing `if`, `menu` and `choice` blocks name without negation (`A && !B` -> `A`).
   */
  depends: string[];
  /** Symbols that must be off: those its `depends on` lines negate (`A && !B` -> `B`). */
  conflicts: string[];
}

const TYPES = new Set<string>(["bool", "tristate", "int", "hex", "string"]);

/**
 * The symbols a Kconfig expression needs on: every name in it that is not negated
 * (`!FOO`, `!(...)`), compared with `n`, or a literal (`y`, `m`, `n`, numbers).
 */
export function positiveSymbols(expr: string): string[] {
  const out: string[] = [];
  const text = expr.replace(/\$\([^)]*\)/g, " ").replace(/"[^"]*"/g, " ");
  const tokens = text.match(/!=|!|\(|\)|&&|\|\||=|[A-Za-z0-9_]+/g) ?? [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] ?? "";
    if (t === "!") {
      // Skip the negated operand: one name, or a parenthesized group.
      if (tokens[i + 1] === "(") {
        let depth = 0;
        for (i++; i < tokens.length; i++) {
          if (tokens[i] === "(") depth++;
          else if (tokens[i] === ")" && --depth === 0) break;
        }
      } else i++;
      continue;
    }
    if (!/^[A-Z_][A-Z0-9_]*$/.test(t)) continue;
    const op = tokens[i + 1];
    const rhs = tokens[i + 2];
    if ((op === "=" && rhs === "n") || (op === "!=" && (rhs === "y" || rhs === "m"))) continue;
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

/** The symbols a Kconfig expression negates by name (`!FOO`): they must be off. */
export function negatedSymbols(expr: string): string[] {
  const out: string[] = [];
  for (const m of expr.matchAll(/!\s*([A-Z_][A-Z0-9_]*)\b(?!\s*=)/g))
    if (m[1] && !out.includes(m[1])) out.push(m[1]);
  return out;
}

const indentOf = (line: string): number => {
  let n = 0;
  for (const ch of line) {
    if (ch === " ") n++;
    else if (ch === "\t") n = (Math.floor(n / 8) + 1) * 8;
    else break;
  }
  return n;
};

/**
 * The symbols a Kconfig file defines (`config`/`menuconfig` entries), with their type,
 * whether they have a prompt and their `choice` block. `file` names choice blocks.
 * Definitions of one symbol in several files are merged by `mergeKconfigSymbols`.
 */
export function parseKconfig(text: string, file = "Kconfig"): KconfigSymbol[] {
  const out: KconfigSymbol[] = [];
  const lines = text.split("\n");
  let current: KconfigSymbol | null = null;
  let choice: string | null = null;
  // Open `if`/`menu`/`choice` blocks and what each depends on.
  const blocks: { kind: string; depends: string[]; conflicts: string[] }[] = [];
  const inherited = () => [...new Set(blocks.flatMap((b) => b.depends))];
  // A `depends on` right after `menu` or `choice` belongs to that block.
  let openBlock: { kind: string; depends: string[]; conflicts: string[] } | null = null;
  let helpIndent: number | null = null;
  let inHelp = false;
  let helpKeywordIndent = 0;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] ?? "";
    while (line.endsWith("\\") && i + 1 < lines.length)
      line = line.slice(0, -1) + (lines[++i] ?? "");
    if (inHelp) {
      if (line.trim() === "") continue;
      const indent = indentOf(line);
      helpIndent ??= indent > helpKeywordIndent ? indent : null;
      if (helpIndent !== null && indent >= helpIndent) continue;
      inHelp = false;
      helpIndent = null;
    }
    const stripped = line.replace(/#.*$/, "").trim();
    const words = stripped.split(/\s+/);
    const keyword = words[0] ?? "";
    const rest = stripped.slice(keyword.length).trim();
    if (keyword === "config" || keyword === "menuconfig") {
      current = {
        name: words[1] ?? "",
        type: null,
        prompt: false,
        choice,
        depends: inherited(),
        conflicts: [...new Set(blocks.flatMap((b) => b.conflicts))],
      };
      out.push(current);
      openBlock = null;
    } else if (keyword === "choice" || keyword === "menu" || keyword === "if") {
      current = null;
      const block = {
        kind: keyword,
        depends: keyword === "if" ? positiveSymbols(rest) : [],
        conflicts: keyword === "if" ? negatedSymbols(rest) : [],
      };
      blocks.push(block);
      openBlock = keyword === "if" ? null : block;
      if (keyword === "choice") choice = `${file}:${i + 1}`;
    } else if (keyword === "endchoice" || keyword === "endmenu" || keyword === "endif") {
      current = null;
      openBlock = null;
      const kind = keyword.slice(3);
      const at = blocks.map((b) => b.kind).lastIndexOf(kind);
      if (at >= 0) blocks.splice(at);
      if (keyword === "endchoice") choice = null;
    } else if (["comment", "source", "mainmenu"].includes(keyword)) {
      current = null;
      openBlock = null;
    } else if (keyword === "depends" && words[1] === "on") {
      const expr = stripped.replace(/^depends\s+on/, "");
      const target = current ?? openBlock;
      if (target) {
        for (const d of positiveSymbols(expr))
          if (!target.depends.includes(d)) target.depends.push(d);
        for (const d of negatedSymbols(expr))
          if (!target.conflicts.includes(d)) target.conflicts.push(d);
      }
    } else if (keyword === "help" || keyword === "---help---") {
      inHelp = true;
      helpKeywordIndent = indentOf(line);
    } else if (current) {
      if (TYPES.has(keyword)) {
        current.type = keyword as KconfigType;
        if (words.length > 1) current.prompt = true;
      } else if (keyword === "def_bool" || keyword === "def_tristate") {
        current.type = keyword === "def_bool" ? "bool" : "tristate";
      } else if (keyword === "prompt") {
        current.prompt = true;
      }
    }
  }
  return out;
}

/** One entry per symbol: a type from any definition, a prompt if any has one, the first choice. */
export function mergeKconfigSymbols(symbols: Iterable<KconfigSymbol>): Map<string, KconfigSymbol> {
  const out = new Map<string, KconfigSymbol>();
  for (const s of symbols) {
    const seen = out.get(s.name);
    if (!seen) out.set(s.name, { ...s, depends: [...s.depends], conflicts: [...s.conflicts] });
    else {
      seen.type ??= s.type;
      seen.prompt ||= s.prompt;
      seen.choice ??= s.choice;
      // A symbol defined in several places is visible through any of them: keep what they
      // all need.
      seen.depends = seen.depends.filter((d) => s.depends.includes(d));
      seen.conflicts = seen.conflicts.filter((d) => s.conflicts.includes(d));
    }
  }
  return out;
}

/**
 * What a `.config` sets: `y`, `m`, `n` (`# CONFIG_FOO is not set`) or the value of an
 * int, hex or string option. Options it does not list (their dependencies are not met)
 * are absent.
 */
export function parseDotConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const set = /^CONFIG_(\w+)=(.*)$/.exec(line);
    if (set?.[1]) out.set(set[1], set[2] ?? "");
    const unset = /^# CONFIG_(\w+) is not set$/.exec(line);
    if (unset?.[1]) out.set(unset[1], "n");
  }
  return out;
}

/** Why an option the hyp build tests is never on. */
export type OffReason =
  /** No Kconfig file this architecture reads defines it (another architecture's, or gone). */
  | "not-defined"
  /** No prompt: only a `select` or a default turns it on (often another arch's), and none did. */
  | "no-prompt"
  /** A member of a `choice` whose other member the configurations chose. */
  | "choice"
  /** Every configuration's `.config` leaves it out: its dependencies are not met. */
  | "dependencies"
  /** Listed `is not set` in some `.config`: possible, but no configuration asks for it. */
  | "not-requested";

export interface OptionCoverage {
  name: string;
  type: KconfigType | null;
  /** The configurations whose `.config` has it `=y`. */
  onIn: string[];
  /** For a bool or tristate option that no configuration has on. */
  off: OffReason | null;
}

export interface CoverageSummary {
  /** Every option the hyp build tests, sorted by name. */
  options: OptionCoverage[];
  /** How many options there are; of them, bool/tristate options this arch defines. */
  total: number;
  switchable: number;
  /** Options `=y` in at least one configuration. */
  on: number;
  /** int, hex and string options (they have a value, not an on/off state). */
  valued: number;
  /** Options no Kconfig file of the arch defines. */
  undefined: number;
}

/**
 * Coverage of the options the hyp build tests by a list of configurations: which are `=y`
 * where, and for each bool/tristate option on nowhere, the likeliest reason.
 */
export function optionCoverage(
  options: Iterable<string>,
  symbols: ReadonlyMap<string, KconfigSymbol>,
  configs: readonly { name: string; values: ReadonlyMap<string, string> }[],
): CoverageSummary {
  const list: OptionCoverage[] = [];
  for (const name of [...new Set(options)].sort()) {
    const sym = symbols.get(name);
    const onIn = configs.filter((c) => c.values.get(name) === "y").map((c) => c.name);
    let off: OffReason | null = null;
    if (!sym) off = "not-defined";
    else if (
      onIn.length === 0 &&
      (sym.type === "bool" || sym.type === "tristate" || sym.type === null)
    ) {
      const listed = configs.some((c) => c.values.has(name));
      if (!sym.prompt) off = "no-prompt";
      else if (sym.choice && listed) off = "choice";
      else if (!listed) off = "dependencies";
      else off = "not-requested";
    }
    list.push({ name, type: sym?.type ?? null, onIn, off });
  }
  const valued = list.filter((o) => o.type === "int" || o.type === "hex" || o.type === "string");
  const undefinedOptions = list.filter((o) => o.off === "not-defined");
  return {
    options: list,
    total: list.length,
    switchable: list.length - valued.length - undefinedOptions.length,
    on: list.filter((o) => o.onIn.length > 0 && !valued.includes(o)).length,
    valued: valued.length,
    undefined: undefinedOptions.length,
  };
}

/**
 * `options` and, transitively, the symbols they depend on (`depends on`, enclosing `if` and
 * `menu`) that a user can turn on (bool or tristate with a prompt) and `keep` accepts: what
 * to ask for so that the options themselves can be on.
 */
export function dependencyClosure(
  options: Iterable<string>,
  symbols: ReadonlyMap<string, KconfigSymbol>,
  keep: (name: string) => boolean = () => true,
): string[] {
  const out = new Set(options);
  const queue = [...out];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    for (const dep of symbols.get(name)?.depends ?? []) {
      const sym = symbols.get(dep);
      if (!sym?.prompt || (sym.type !== "bool" && sym.type !== "tristate")) continue;
      if (out.has(dep) || !keep(dep)) continue;
      out.add(dep);
      queue.push(dep);
    }
  }
  return [...out].sort();
}

/**
 * For the next configuration: one member per choice to pick (`picks`: the page size,
 * endianness, KASAN mode or slab allocator no configuration had yet), and the other members
 * of those choices, which it turns off so that Kconfig picks them. A member that needs
 * members of other choices (52-bit VA needs 64K pages) is placed first, with them; then
 * the member of higher `weight` (the hyp build: how many of its objects test the option).
 */
export function choicePicks(
  pending: readonly string[],
  symbols: ReadonlyMap<string, KconfigSymbol>,
  weight: (option: string) => number = () => 0,
): { picks: string[]; rivals: string[] } {
  const choiceOf = (o: string) => symbols.get(o)?.choice ?? null;
  const needs = new Map(
    pending.map((o) => [o, dependencyClosure([o], symbols).filter((d) => choiceOf(d) !== null)]),
  );
  const order = [...pending]
    .filter((o) => choiceOf(o) !== null)
    .sort(
      (a, b) =>
        (needs.get(b)?.length ?? 0) - (needs.get(a)?.length ?? 0) ||
        weight(b) - weight(a) ||
        a.localeCompare(b),
    );
  const picked = new Map<string, string>();
  for (const o of order) {
    const members = needs.get(o) ?? [o];
    const fits = members.every((m) => {
      const taken = picked.get(choiceOf(m) ?? "");
      return taken === undefined || taken === m;
    });
    if (fits) for (const m of members) picked.set(choiceOf(m) ?? "", m);
  }
  const picks = [...picked.values()].sort();
  const rivals: string[] = [];
  for (const [name, sym] of symbols)
    if (sym.choice && picked.has(sym.choice) && !picks.includes(name)) rivals.push(name);
  return { picks, rivals: rivals.sort() };
}

/**
 * What keeps `pending` options off in a configuration whose `.config` is `values`: the
 * symbols on there that they, or what they depend on, need off (`depends on !FOO`), such as
 * KCSAN for the KASAN modes. The next configuration turns them off.
 */
export function blockers(
  pending: readonly string[],
  values: ReadonlyMap<string, string>,
  symbols: ReadonlyMap<string, KconfigSymbol>,
): string[] {
  const out = new Set<string>();
  const seen = new Set<string>();
  const queue = [...pending];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    if (seen.has(name)) continue;
    seen.add(name);
    const sym = symbols.get(name);
    for (const c of sym?.conflicts ?? []) if (values.get(c) === "y") out.add(c);
    for (const d of sym?.depends ?? []) if (values.get(d) !== "y") queue.push(d);
  }
  return [...out].sort();
}
