/**
 * Mutation cases: small series made by editing real linux-source-6.1 hyp code, each with
 * the verdict it must get. Cases are JSON files in `bench/mutations/` (and, for bugs from
 * kernel history, `bench/real-bugs/`); this module reads them and turns their edits into
 * real `git format-patch` mails.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { gitOk } from "../src/io/git.js";
import { BUILD_CONFIGS, type BuildConfigName } from "../src/apply/index.js";
import { patchesFromFiles } from "../src/pipeline/select.js";
import type { CheckPatch } from "../src/pipeline/check.js";

export const MUTATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "mutations");
/** Bugs from kernel history, re-introduced on linux 6.1, and real clean changes as controls. */
export const REAL_BUGS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "real-bugs");

const edit = z.object({
  /** Path in the kernel tree. */
  file: z.string().min(1),
  /** Text that occurs exactly once in the file when the edit is made. */
  anchor: z.string().min(1),
  /** What replaces the anchor (repeat the anchor to insert beside it). */
  replacement: z.string(),
});

const patch = z.object({
  subject: z.string().min(1),
  body: z.string().default(""),
  edits: z.array(edit).min(1),
});

const expectation = z.object({
  rule: z.enum([
    "hyp/undefined-symbol",
    "hyp/instrumentation",
    "hyp/unmapped-section",
    "hyp/new-alias",
    "hyp/link-error",
  ]),
  /** The symbol, instrumentation (`kasan`), section (`.data`) or aliased symbol. */
  symbol: z.string().min(1),
  /** 1-based index of the patch that introduces it. */
  patch: z.number().int().positive(),
  fixedBy: z.number().int().positive().nullable().default(null),
  /**
   * Where the finding is written: the source file, and a text of the line (as it reads
   * after `patch`) or null when the rule gives no line. Instrumentation: the Makefile
   * guard that should have kept it out, its line null when the guard is gone.
   */
  file: z.string().min(1).nullable(),
  line: z.string().min(1).nullable(),
  /** The line is this many lines below the one holding `line` (a statement's next line). */
  lineOffset: z.number().int().nonnegative().default(0),
  /**
   * A consequence reported in every object it touches (KASAN metadata in `.data`): the
   * rule, symbol and patch are checked, `file` and `line` are not.
   */
  anyLocation: z.boolean().default(false),
});

export const mutationCaseSchema = z.object({
  description: z.string().min(1),
  /**
   * For a bug taken from kernel history (`bench/real-bugs/`): the posting in the kvmarm
   * archive whose line the case takes away, and what went wrong without it.
   */
  history: z.string().min(1).optional(),
  /** Configurations to check in; instrumentation shows only in `instrumented`. */
  configs: z
    .array(z.enum(Object.keys(BUILD_CONFIGS) as [BuildConfigName, ...BuildConfigName[]]))
    .min(1),
  patches: z.array(patch).min(1).max(8),
  /** Empty: a clean control, no finding allowed. */
  expect: z.array(expectation),
  /**
   * Where clang's objects differ from gcc's, what to expect when the case is built with
   * clang instead, and why (what `nm`, `objdump` or the `.cmd` file show).
   */
  clang: z.object({ why: z.string().min(1), expect: z.array(expectation) }).optional(),
});

/** The compilers the benchmark can build its cases with. */
export type CaseCompiler = "gcc" | "clang";

/** The expectations of a case when built with `compiler`. */
export function expectationsFor(c: MutationCaseData, compiler: CaseCompiler): Expectation[] {
  return compiler === "clang" && c.clang ? c.clang.expect : c.expect;
}

export type MutationCaseData = z.infer<typeof mutationCaseSchema>;
export type Expectation = z.infer<typeof expectation>;

export interface MutationCase extends MutationCaseData {
  /** The file name without `.json`. */
  name: string;
}

/** A case file that is not valid JSON or does not match the schema. */
export class MutationCaseError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = "MutationCaseError";
  }
}

/** Every case of `dir`, by file name; `only` keeps the named ones. */
export async function loadMutationCases(
  dir = MUTATIONS_DIR,
  only: readonly string[] = [],
): Promise<MutationCase[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".json")).sort();
  const cases: MutationCase[] = [];
  for (const file of names) {
    const name = file.slice(0, -".json".length);
    if (only.length > 0 && !only.includes(name)) continue;
    let json: unknown;
    try {
      json = JSON.parse(await readFile(path.join(dir, file), "utf8"));
    } catch (err) {
      throw new MutationCaseError(file, err instanceof Error ? err.message : String(err));
    }
    const parsed = mutationCaseSchema.safeParse(json);
    if (!parsed.success) throw new MutationCaseError(file, parsed.error.message);
    for (const e of parsed.data.expect)
      if (e.patch > parsed.data.patches.length)
        throw new MutationCaseError(
          file,
          `expects patch ${e.patch} of ${parsed.data.patches.length}`,
        );
    cases.push({ name, ...parsed.data });
  }
  const missing = only.filter((n) => !cases.some((c) => c.name === n));
  if (missing.length > 0) throw new MutationCaseError(dir, `no case named ${missing.join(", ")}`);
  return cases;
}

/** An expectation with its line text resolved to a line number. */
export interface ResolvedExpectation extends Omit<Expectation, "line"> {
  line: number | null;
}

/** A case made into mails on a base commit. */
export interface PreparedCase {
  case: MutationCase;
  base: string;
  configs: BuildConfigName[];
  patches: CheckPatch[];
  expect: ResolvedExpectation[];
}

/**
 * A scratch clone of the kernel tree that shares its objects (the tree itself is not
 * written to), checked out sparsely: only the files cases edit.
 */
export class PatchWorkspace {
  private constructor(
    readonly dir: string,
    readonly base: string,
  ) {}

  static async open(tree: string, files: readonly string[]): Promise<PatchWorkspace> {
    const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-mutations-"));
    await gitOk(dir, ["clone", "-q", "--shared", "--no-checkout", tree, "src"]);
    const src = path.join(dir, "src");
    const base = (await gitOk(src, ["rev-parse", "HEAD"])).trim();
    await gitOk(src, ["sparse-checkout", "set", "--no-cone", ...files.map((f) => `/${f}`)]);
    await gitOk(src, ["checkout", "-q", "--detach", base]);
    return new PatchWorkspace(dir, base);
  }

  private get src(): string {
    return path.join(this.dir, "src");
  }

  /** Commit the case's patches on the base and format them as mails. */
  async prepare(c: MutationCase, compiler: CaseCompiler = "gcc"): Promise<PreparedCase> {
    await gitOk(this.src, ["checkout", "-q", "--detach", "-f", this.base]);
    const after: Map<string, string>[] = [];
    const current = new Map<string, string>();
    for (const [i, p] of c.patches.entries()) {
      for (const e of p.edits) {
        const text = current.get(e.file) ?? (await readFile(path.join(this.src, e.file), "utf8"));
        const count = text.split(e.anchor).length - 1;
        if (count !== 1)
          throw new MutationCaseError(
            `${c.name}.json`,
            `patch ${i + 1}: anchor occurs ${count} times in ${e.file}: ${JSON.stringify(e.anchor)}`,
          );
        const changed = text.replace(e.anchor, () => e.replacement);
        current.set(e.file, changed);
        await writeFile(path.join(this.src, e.file), changed);
      }
      await gitOk(this.src, ["add", "--", ...new Set(p.edits.map((e) => e.file))]);
      const message = p.body ? `${p.subject}\n\n${p.body}\n` : `${p.subject}\n`;
      await gitOk(this.src, ["commit", "-q", "-F", "-"], {
        input: message,
        env: {
          GIT_AUTHOR_DATE: "2023-01-02T10:00:00Z",
          GIT_COMMITTER_DATE: "2023-01-02T10:00:00Z",
        },
      });
      after.push(new Map(current));
    }
    const out = path.join(this.dir, c.name);
    await rm(out, { recursive: true, force: true });
    const files = (
      await gitOk(this.src, [
        "format-patch",
        `--base=${this.base}`,
        "-o",
        out,
        `${this.base}..HEAD`,
      ])
    )
      .split("\n")
      .filter(Boolean);
    const selected = await patchesFromFiles(files);
    if (selected.patches.length !== c.patches.length)
      throw new MutationCaseError(
        `${c.name}.json`,
        `format-patch wrote ${selected.patches.length} of ${c.patches.length} patches`,
      );
    const expect: ResolvedExpectation[] = [];
    for (const e of expectationsFor(c, compiler)) {
      if (e.line === null || e.file === null) {
        expect.push({ ...e, line: null });
        continue;
      }
      // A line in a file the series does not edit (an inline kernel helper) reads as in the base.
      const text =
        after[e.patch - 1]?.get(e.file) ??
        (await gitOk(this.src, ["show", `${this.base}:${e.file}`]));
      expect.push({ ...e, line: lineOf(c, e, text) });
    }
    return { case: c, base: this.base, configs: c.configs, patches: selected.patches, expect };
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The 1-based line holding the expectation's text in `text`, which must hold it once. */
function lineOf(c: MutationCase, e: Expectation, text: string): number {
  const where = `${c.name}.json: ${e.rule} ${e.symbol}`;
  const lines = text.split("\n");
  const hits = lines.flatMap((l, i) => (e.line !== null && l.includes(e.line) ? [i + 1] : []));
  if (hits.length !== 1 || hits[0] === undefined)
    throw new MutationCaseError(where, `${JSON.stringify(e.line)} is on ${hits.length} lines`);
  return hits[0] + e.lineOffset;
}

/** Every file the cases edit (for the sparse checkout). */
export function editedFiles(cases: readonly MutationCase[]): string[] {
  return [...new Set(cases.flatMap((c) => c.patches.flatMap((p) => p.edits.map((e) => e.file))))];
}
