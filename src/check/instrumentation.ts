/**
 * Compiler instrumentation that must stay out of nVHE hyp code: how to recognise it in an
 * object, which flag lets it in, and which Makefile line keeps it out. Pure.
 */
import type { MakefileGuard } from "./types.js";
import { makefileLines } from "../io/kbuild-files.js";
import { escapeRegExp } from "./patterns.js";

export type InstrumentationName =
  | "shadow-call-stack"
  | "kasan"
  | "ubsan"
  | "kcov"
  | "kcsan"
  | "gcov"
  | "ftrace"
  | "stack-protector";

type Guard =
  /** `KBUILD_CFLAGS := $(filter-out ... $(VAR) ..., $(KBUILD_CFLAGS))` */
  | { kind: "filter-out"; variable: string }
  /** `VAR := n`, overridable per object with `VAR_<obj>.o := y` */
  | { kind: "disable"; variable: string }
  /** a flag added to `ccflags-y` */
  | { kind: "ccflag"; flag: string };

interface Instrumentation {
  name: InstrumentationName;
  /** Undefined symbols the instrumented code calls or reads. */
  symbols: RegExp;
  /** Sections the compiler adds for it. */
  sections?: RegExp;
  /** Whether an argv entry is a flag that enables it. */
  enables: (flag: string) => boolean;
  /** Flags that switch it off again when they come later. */
  disables?: (flag: string) => boolean;
  guard: Guard;
}

const sanitizers = (flag: string): string[] => {
  const m = /^-fsanitize=(.*)$/.exec(flag);
  return m?.[1] ? m[1].split(",") : [];
};

const KASAN = new Set(["kernel-address", "kernel-hwaddress", "address", "hwaddress"]);

const INSTRUMENTATIONS: readonly Instrumentation[] = [
  {
    name: "shadow-call-stack",
    symbols: /^$/,
    enables: (f) => sanitizers(f).includes("shadow-call-stack"),
    disables: (f) => f === "-fno-sanitize=shadow-call-stack",
    guard: { kind: "filter-out", variable: "CC_FLAGS_SCS" },
  },
  {
    name: "kasan",
    symbols: /^__(?:asan|hwasan|kasan)_/,
    enables: (f) => sanitizers(f).some((s) => KASAN.has(s)),
    guard: { kind: "disable", variable: "KASAN_SANITIZE" },
  },
  {
    name: "kcsan",
    symbols: /^__tsan_/,
    enables: (f) => sanitizers(f).includes("thread"),
    guard: { kind: "disable", variable: "KCSAN_SANITIZE" },
  },
  {
    name: "ubsan",
    symbols: /^__ubsan_handle_/,
    enables: (f) =>
      sanitizers(f).some((s) => !KASAN.has(s) && s !== "thread" && s !== "shadow-call-stack"),
    guard: { kind: "disable", variable: "UBSAN_SANITIZE" },
  },
  {
    name: "kcov",
    symbols: /^__sanitizer_cov_/,
    enables: (f) => f.startsWith("-fsanitize-coverage=") || /sancov_plugin/.test(f),
    guard: { kind: "disable", variable: "KCOV_INSTRUMENT" },
  },
  {
    name: "gcov",
    symbols: /^__gcov_/,
    enables: (f) => f === "-fprofile-arcs" || f === "-ftest-coverage",
    guard: { kind: "disable", variable: "GCOV_PROFILE" },
  },
  {
    name: "ftrace",
    symbols: /^(?:_mcount|__fentry__)$/,
    sections: /^__patchable_function_entries$|^__mcount_loc$/,
    enables: (f) =>
      f === "-pg" ||
      f === "-mrecord-mcount" ||
      f === "-mfentry" ||
      (f.startsWith("-fpatchable-function-entry=") && !/=0(,0)?$/.test(f)),
    guard: { kind: "filter-out", variable: "CC_FLAGS_FTRACE" },
  },
  {
    name: "stack-protector",
    symbols: /^__stack_chk_(?:guard|fail)$/,
    enables: (f) => /^-fstack-protector(?:-strong|-all|-explicit)?$/.test(f),
    disables: (f) => f === "-fno-stack-protector",
    guard: { kind: "ccflag", flag: "-fno-stack-protector" },
  },
];

/** The instrumentation an undefined symbol belongs to, if any. */
export function instrumentationOfSymbol(symbol: string): InstrumentationName | null {
  return INSTRUMENTATIONS.find((i) => i.symbols.test(symbol))?.name ?? null;
}

/** The instrumentation a section belongs to, if any. */
export function instrumentationOfSection(section: string): InstrumentationName | null {
  return INSTRUMENTATIONS.find((i) => i.sections?.test(section))?.name ?? null;
}

/** Constructor tables: in kernel objects only instrumentation (KASAN globals, gcov) adds them. */
export function isConstructorSection(section: string): boolean {
  return /^\.(?:init_array|fini_array|ctors|dtors)(?:\.|$)/.test(section);
}

const CONSTRUCTOR_SOURCES: readonly InstrumentationName[] = [
  "kasan",
  "kcsan",
  "gcov",
  "ubsan",
  "kcov",
];

/** Which enabled instrumentation of a compiler command explains its constructor tables. */
export function constructorInstrumentation(argv: readonly string[]): InstrumentationName | null {
  return CONSTRUCTOR_SOURCES.find((name) => enablingFlags(argv, name).length > 0) ?? null;
}

/**
 * Shadow-call-stack prologue and epilogue: `str x30, [x18], #8` / `ldr x30, [x18, #-8]!`.
 * objdump spells them with single spaces after normalisation.
 */
export function isShadowCallStackInstruction(text: string): boolean {
  return /^str x30, \[x18\], #8\b/.test(text) || /^ldr x30, \[x18, #-8\]!/.test(text);
}

/**
 * The flags of a compiler command that let `name` in, in command-line order. Empty when a
 * later flag turns it off again or nothing enables it.
 */
export function enablingFlags(argv: readonly string[], name: InstrumentationName): string[] {
  const inst = INSTRUMENTATIONS.find((i) => i.name === name);
  if (!inst) return [];
  let found: string[] = [];
  for (const arg of argv) {
    if (inst.enables(arg)) found.push(arg);
    else if (inst.disables?.(arg)) found = [];
  }
  return [...new Set(found)];
}

/**
 * The line of `makefile` that should keep `name` out of `objectBase` (the object's file
 * name, e.g. `switch.nvhe.o`), or what is missing.
 */
export function makefileGuard(
  makefile: string,
  makefilePath: string,
  name: InstrumentationName,
  objectBase: string,
): MakefileGuard {
  const inst = INSTRUMENTATIONS.find((i) => i.name === name);
  const lines = makefileLines(makefile);
  const absent = (line: number | null, text: string | null, note: string): MakefileGuard => ({
    file: makefilePath,
    line,
    text,
    present: false,
    note,
  });
  const found = (hit: { line: number; text: string }, note: string): MakefileGuard => ({
    file: makefilePath,
    line: hit.line,
    text: hit.text,
    present: true,
    note: `${makefilePath}:${hit.line} ${note}`,
  });
  if (!inst) return absent(null, null, "no known guard");
  const guard = inst.guard;
  switch (guard.kind) {
    case "filter-out": {
      const ref = `$(${guard.variable})`;
      const filters = lines.filter((l) => /^KBUILD_CFLAGS\s*:?=\s*\$\(filter-out\b/.test(l.text));
      const hit = filters.find((l) => l.text.includes(ref));
      if (hit) {
        return found(hit, `filters ${ref} out of KBUILD_CFLAGS`);
      }
      const first = filters[0];
      if (first) {
        return absent(
          first.line,
          first.text,
          `${makefilePath}:${first.line} filters KBUILD_CFLAGS but not ${ref}`,
        );
      }
      return absent(null, null, `${makefilePath} never filters ${ref} out of KBUILD_CFLAGS`);
    }
    case "disable": {
      const stem = objectBase.replace(/\.o$/, "");
      const override = lines.find((l) =>
        new RegExp(`^${guard.variable}_${escapeRegExp(stem)}\\.o\\s*:?=\\s*y\\b`).test(l.text),
      );
      const hit = lines.find((l) => new RegExp(`^${guard.variable}\\s*:?=\\s*n\\b`).test(l.text));
      if (override) {
        return absent(
          override.line,
          override.text,
          `${makefilePath}:${override.line} turns ${guard.variable} back on for ${objectBase}`,
        );
      }
      if (hit) {
        return found(hit, `sets ${guard.variable} := n`);
      }
      return absent(null, null, `${makefilePath} has no ${guard.variable} := n`);
    }
    case "ccflag": {
      const hit = lines.find(
        (l) =>
          /^(?:ccflags-y|subdir-ccflags-y|KBUILD_CFLAGS)\b/.test(l.text) &&
          l.text.includes(guard.flag),
      );
      if (hit) {
        return found(hit, `adds ${guard.flag}`);
      }
      return absent(null, null, `${makefilePath} does not add ${guard.flag} to ccflags-y`);
    }
  }
}

/**
 * The word of the Makefile line that keeps an instrumentation out (`KASAN_SANITIZE`,
 * `CC_FLAGS_SCS`, `-fno-stack-protector`): a patch line holding it is what let it in.
 */
export function guardWord(name: string): string | null {
  const guard = INSTRUMENTATIONS.find((i) => i.name === name)?.guard;
  if (!guard) return null;
  return guard.kind === "ccflag" ? guard.flag : guard.variable;
}
