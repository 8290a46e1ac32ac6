import { HypwatchError } from "../errors.js";

/** What a finding is about. */
export type FindingKind =
  "symbol" | "outlined-inline" | "instrumentation" | "alias" | "section" | "link";

export type Severity = "error" | "warning";

/** Stable rule ids: reports and diffs refer to findings by these. */
export const RULES = {
  /** nVHE code references a kernel symbol that no alias or linker script provides. */
  undefinedSymbol: "hyp/undefined-symbol",
  /** Compiler instrumentation (SCS, KASAN, UBSAN, KCOV, ftrace, stack protector) in nVHE code. */
  instrumentation: "hyp/instrumentation",
  /** An allocatable section of the nVHE object that the hyp linker script does not map. */
  unmappedSection: "hyp/unmapped-section",
  /** A new KVM_NVHE_ALIAS entry exposes a kernel symbol to nVHE code. */
  newAlias: "hyp/new-alias",
  /**
   * ld rejects kvm_nvhe.o linked as vmlinux links it, against the alias list: an alias whose
   * nVHE target is undefined, or a link error no other rule explains.
   */
  linkError: "hyp/link-error",
  /** Legacy era: a call from `.hyp.text` to code outside the hyp sections. */
  legacyCall: "hyp/legacy-call-outside-hyp",
  /** Legacy era: a data reference from `.hyp.text` to a symbol outside the hyp sections. */
  legacyReference: "hyp/legacy-ref-outside-hyp",
  /** Legacy era: a `static inline` emitted out of line into `.text` and called from hyp code. */
  outlinedInline: "hyp/outlined-inline",
} as const;

export type RuleId = (typeof RULES)[keyof typeof RULES];

/** One frame of an inline chain as addr2line reports it. */
export interface InlineFrame {
  function: string;
  /** Source path relative to the kernel tree when it lies inside it. */
  file: string;
  line: number | null;
}

/** The Makefile line that should keep an instrumentation out, or where it is missing. */
export interface MakefileGuard {
  /** Makefile path relative to the kernel tree. */
  file: string;
  /** Line of the guard (or of the filter that lacks it); null when nothing relevant exists. */
  line: number | null;
  /** The guard line as written (continuations joined); null when absent. */
  text: string | null;
  /** Whether the guard is there. Instrumentation despite a present guard means an override. */
  present: boolean;
  /** One line saying what was found. */
  note: string;
}

export interface Finding {
  rule: RuleId;
  severity: Severity;
  kind: FindingKind;
  /**
   * What the finding names: the symbol (kfree), the instrumentation (shadow-call-stack),
   * the section (.noinstr.text) or the symbol an alias exposes.
   */
  symbol: string;
  /** Where it is written: for an inlined reference, the innermost (header) location. */
  file: string | null;
  line: number | null;
  /** The emitted function it ends up in: for an inlined reference, the outermost function. */
  function: string | null;
  /** Innermost first, outermost last; empty when no debug information maps the site. */
  inlineChain: InlineFrame[];
  /** The build configuration that produced it (e.g. `defconfig`, `-O2 -fno-inline`). */
  config: string;
  message: string;
  /** Stable across unrelated line moves: rule, symbol, function, file (and an ordinal). */
  key: string;
  /** The object file, relative to the build dir, where the evidence was found. */
  object?: string;
  /** The ELF section holding the evidence (`.text`, `.hyp.text`, ...). */
  section?: string;
  /** Instrumentation: the compiler flag(s) in the object's Kbuild command that let it in. */
  flags?: string[];
  /** Instrumentation: the Makefile guard that should have stopped it. */
  makefile?: MakefileGuard;
  /** How many sites (functions, relocations) the finding groups. */
  occurrences?: number;
  /** Sections: the named functions and data objects placed in it (`_rs.1`). */
  contents?: string[];
  /**
   * When the compiler outlined the function the reference is in (a header's `static
   * inline` helper emitted once in the object), the calls to it: each call's inline chain,
   * innermost first. A patch's line among them is where the author wrote the problem.
   */
  callers?: InlineFrame[][];
}

/** A finding attributed to the patch of a series that introduced it. */
export interface AttributedFinding extends Finding {
  /** 1-based index of the patch after which the finding first appears. */
  introducedBy: number;
  /** Index of a later patch after which it is gone, or null when the series leaves it. */
  fixedBy: number | null;
  /** The `id` of the cause it belongs to (results stored before causes existed: absent). */
  cause?: string;
}

/**
 * What a cause is: a line of a patch (or, without one, the line where the finding is
 * written), a Makefile line, a `KVM_NVHE_ALIAS` line of image-vars.h, or a linker-script line.
 */
export type CauseKind = "line" | "makefile" | "alias" | "linker-script";

/** A section a cause puts into the nVHE object that hyp.lds does not map. */
export interface CauseSection {
  name: string;
  /** The object holding it, relative to the build dir. */
  object: string | null;
  /** The named functions and data objects in it; empty when compiler-generated. */
  contents: string[];
}

/** One cause and every finding it brings in, with what they affect. */
export interface Cause {
  /** Unique in one check result: `<patch>:<file>:<line>`, `:-<line>` for a removed line. */
  id: string;
  kind: CauseKind;
  /** The patch that brought the cause in (0 in an audit). */
  introducedBy: number;
  /** The patch after which all its findings are gone; null while one is left. */
  fixedBy: number | null;
  /** `error` when any of its findings is one. */
  severity: Severity;
  file: string | null;
  /** In the file after the patch for an added line, before it for a removed one. */
  line: number | null;
  /** `added`/`removed`: the patch's own line; null: where the findings are written. */
  change: "added" | "removed" | null;
  /** The line as written, when known. */
  text: string | null;
  /** The function the line is in, when a finding says. */
  function: string | null;
  rules: RuleId[];
  objects: string[];
  /** Kernel symbols referenced, and symbols aliases expose. */
  symbols: string[];
  /** Instrumentation names (`kasan`). */
  instrumentation: string[];
  sections: CauseSection[];
  /** The `key`s of its findings. */
  findings: string[];
}

export interface FindingDiff {
  introduced: Finding[];
  removed: Finding[];
}

/** An entry of the nVHE alias list: `__kvm_nvhe_<name> = <target>` in vmlinux.lds. */
export interface NvheAlias {
  /** The name nVHE code uses (without the `__kvm_nvhe_` prefix). */
  name: string;
  /** What it resolves to in the kernel image (a kernel symbol or another `__kvm_nvhe_` one). */
  target: string;
}

/** A build or object the analysis cannot read: names the path and what is wrong. */
export class CheckInputError extends HypwatchError {
  readonly kind = "permanent";
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}
