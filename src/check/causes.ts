/**
 * Findings grouped by their cause: the patch line, Makefile line, alias or linker-script
 * line that brought them in. One `pr_warn_ratelimited()` line is one cause however many
 * symbols and sections it adds; one Makefile line that lets KASAN in is one cause however
 * many objects it instruments. Pure.
 */
import path from "node:path";
import type { FileDiff } from "../mail/types.js";
import { IMAGE_VARS } from "./aliases.js";
import { guardWord } from "./instrumentation.js";
import { escapeRegExp, wordPattern } from "./patterns.js";
import {
  RULES,
  type AttributedFinding,
  type Cause,
  type CauseKind,
  type CauseSection,
  type InlineFrame,
} from "./types.js";

/** What of a patch's diff the grouping reads (a `FileDiff`). */
export type ChangedFile = Pick<FileDiff, "oldPath" | "newPath" | "hunks">;

/** A line a patch adds (numbered after it) or removes (numbered before it). */
export interface ChangedLine {
  file: string;
  line: number;
  text: string;
  change: "added" | "removed";
}

/** Where a cause is: what findings with the same anchor share. */
interface Anchor {
  kind: CauseKind;
  file: string | null;
  line: number | null;
  change: "added" | "removed" | null;
  text: string | null;
  function: string | null;
  /** Tells apart anchors without a line (a missing guard: the instrumentation's name). */
  what?: string;
}

/** Every line the diff adds or removes, in diff order. */
export function changedLines(files: readonly ChangedFile[]): ChangedLine[] {
  const out: ChangedLine[] = [];
  for (const file of files) {
    for (const hunk of file.hunks) {
      let oldLine = hunk.oldStart;
      let newLine = hunk.newStart;
      for (const raw of hunk.lines) {
        const text = raw.slice(1);
        if (raw.startsWith("+") && file.newPath) {
          out.push({ file: file.newPath, line: newLine, text, change: "added" });
        } else if (raw.startsWith("-") && file.oldPath) {
          out.push({ file: file.oldPath, line: oldLine, text, change: "removed" });
        }
        if (raw.startsWith("+") || raw.startsWith(" ")) newLine++;
        if (raw.startsWith("-") || raw.startsWith(" ")) oldLine++;
      }
    }
  }
  return out;
}

const BUILD_FILE = /(?:^|\/)(?:Makefile|Kbuild)(?:\.[\w-]+)?$|\.mk$/;
const LINKER_SCRIPT = /\.lds(?:\.S|\.h)?$/;

function fromLine(kind: CauseKind, l: ChangedLine, fn: string | null = null): Anchor {
  return { kind, file: l.file, line: l.line, change: l.change, text: l.text, function: fn };
}

/** Where the finding is written, when no patch line explains it. */
function written(f: AttributedFinding): Anchor {
  const fn = f.inlineChain[0]?.function ?? f.function;
  if (f.file)
    return { kind: "line", file: f.file, line: f.line, change: null, text: null, function: fn };
  return {
    kind: "line",
    file: f.object ?? null,
    line: null,
    change: null,
    text: null,
    function: fn,
  };
}

/** A reference whose alias the patch removed: the removed `KVM_NVHE_ALIAS` line. */
function removedAlias(f: AttributedFinding, lines: readonly ChangedLine[]): Anchor | null {
  if (f.kind !== "symbol") return null;
  const re = new RegExp(`KVM_NVHE_ALIAS(?:_HYP)?\\(\\s*${escapeRegExp(f.symbol)}\\s*[,)]`);
  const hit = lines.find((l) => l.change === "removed" && l.file === IMAGE_VARS && re.test(l.text));
  return hit ? fromLine("alias", hit) : null;
}

/**
 * The first place of the finding (where it is written, then each function it is inlined
 * into, then the calls to it when it was outlined) that is a line the patch adds.
 */
function addedPlace(f: AttributedFinding, lines: readonly ChangedLine[]): Anchor | null {
  const frames = (chain: readonly InlineFrame[]) =>
    chain.map((frame) => ({ file: frame.file, line: frame.line, fn: frame.function }));
  const places = [
    ...(f.file && f.line ? [{ file: f.file, line: f.line, fn: f.inlineChain[0]?.function }] : []),
    ...frames(f.inlineChain),
    // An outlined helper: the calls to it, where the patch may have added one.
    ...(f.callers ?? []).flatMap(frames),
  ];
  for (const p of places) {
    const hit = lines.find((l) => l.change === "added" && l.file === p.file && l.line === p.line);
    if (hit) return fromLine("line", hit, p.fn ?? f.function);
  }
  return null;
}

/** An object the patch adds to the build: a Makefile line naming `<stem>.o`. */
function addedObject(f: AttributedFinding, lines: readonly ChangedLine[]): Anchor | null {
  const stem = path.posix.basename(f.object ?? "").replace(/(?:\.nvhe)?\.o$/, "");
  if (!stem) return null;
  const re = wordPattern(`${stem}.o`);
  const hit = lines.find((l) => l.change === "added" && BUILD_FILE.test(l.file) && re.test(l.text));
  return hit ? fromLine("makefile", hit) : null;
}

/**
 * A reference that nothing defines any more because the patch stopped building an object
 * of the hyp code: the hyp build-file line it removed that named an object. Only for
 * findings no line of the patch explains otherwise.
 */
function removedObject(f: AttributedFinding, lines: readonly ChangedLine[]): Anchor | null {
  if (f.kind !== "symbol") return null;
  const hit = lines.find(
    (l) =>
      l.change === "removed" &&
      BUILD_FILE.test(l.file) &&
      l.file.startsWith("arch/arm64/kvm/hyp/") &&
      /[\w-]+\.o\b/.test(l.text),
  );
  return hit ? fromLine("makefile", hit) : null;
}

/**
 * Instrumentation: the build-file line of the patch that holds the guard's word (a removed
 * `KASAN_SANITIZE := n`, an added override), else the line it changed in the guarding
 * Makefile, else the guard as the check found it (or found it missing).
 */
function instrumentationAnchor(f: AttributedFinding, lines: readonly ChangedLine[]): Anchor {
  const guard = f.makefile;
  const token = guardWord(f.symbol);
  const build = lines.filter((l) => BUILD_FILE.test(l.file));
  const hit =
    (token ? build.find((l) => l.text.includes(token)) : undefined) ??
    build.find((l) => l.file === guard?.file);
  if (hit) return fromLine("makefile", hit);
  if (!guard) return { ...written(f), kind: "makefile", what: f.symbol };
  const what = guard.line === null ? f.symbol : undefined;
  return {
    kind: "makefile",
    file: guard.file,
    line: guard.line,
    change: null,
    text: guard.text,
    function: null,
    ...(what ? { what } : {}),
  };
}

/** A section the patch's linker-script line names (a mapping removed or changed). */
function linkerScriptLine(f: AttributedFinding, lines: readonly ChangedLine[]): Anchor | null {
  const re = wordPattern(f.symbol);
  const hit = lines.find((l) => LINKER_SCRIPT.test(l.file) && re.test(l.text));
  return hit ? fromLine("linker-script", hit) : null;
}

/** A line the patch adds in the object's source that names what the section holds. */
function declaringLine(f: AttributedFinding, lines: readonly ChangedLine[]): Anchor | null {
  const names = [...(f.contents ?? []), ...(f.function ? [f.function] : [])];
  for (const name of names) {
    const re = wordPattern(name);
    const hit = lines.find((l) => l.change === "added" && l.file === f.file && re.test(l.text));
    if (hit) return fromLine("line", hit, f.function);
  }
  return null;
}

/**
 * The anchor of a finding, or null for a section that is a side effect of another cause in
 * the same object (ratelimit state, KASAN metadata).
 */
function anchorOf(f: AttributedFinding, lines: readonly ChangedLine[]): Anchor | null {
  if (f.rule === RULES.instrumentation) return instrumentationAnchor(f, lines);
  if (f.kind === "alias") {
    const hit = lines.find((l) => l.change === "added" && l.file === f.file && l.line === f.line);
    return hit ? fromLine("alias", hit) : { ...written(f), kind: "alias" };
  }
  if (f.kind === "section") return linkerScriptLine(f, lines) ?? declaringLine(f, lines) ?? null;
  // An ld error hypwatch does not classify names no place: see `sideEffectOwner`.
  if (f.kind === "link" && !f.file) return null;
  return (
    removedAlias(f, lines) ??
    addedPlace(f, lines) ??
    addedObject(f, lines) ??
    removedObject(f, lines) ??
    written(f)
  );
}

function anchorId(patch: number, a: Anchor): string {
  const at =
    a.line === null
      ? a.what
        ? `#${a.what}`
        : ""
      : `:${a.change === "removed" ? "-" : ""}${a.line}`;
  return `${patch}:${a.file ?? "?"}${at}`;
}

const objectOf = (f: AttributedFinding): string | null =>
  f.object ? path.posix.normalize(f.object) : null;

const sorted = (values: Iterable<string>): string[] => [...new Set(values)].sort();

function sectionOf(f: AttributedFinding): CauseSection {
  return { name: f.symbol, object: f.object ?? null, contents: sectionContents(f) };
}

/**
 * What a section finding's section holds. Results stored before `contents` existed name
 * it only in the message (`section .data (_rs.1), which ...`).
 */
export function sectionContents(f: AttributedFinding): string[] {
  if (f.contents) return f.contents;
  const m = /in section \S+ \(([^)]*)\)/.exec(f.message);
  const listed = m?.[1]?.split(", ") ?? [];
  return listed.filter((n) => n !== "..." && !n.includes(" "));
}

function buildCause(id: string, a: Anchor, patch: number, own: AttributedFinding[]): Cause {
  const byKind = (kinds: readonly string[]) => own.filter((f) => kinds.includes(f.kind));
  const fixed = own.map((f) => f.fixedBy);
  return {
    id,
    kind: a.kind,
    introducedBy: patch,
    fixedBy: fixed.some((n) => n === null) ? null : Math.max(...(fixed as number[])),
    severity: own.some((f) => f.severity === "error") ? "error" : "warning",
    file: a.file,
    line: a.line,
    change: a.change,
    text: a.text,
    function: a.function,
    rules: sorted(own.map((f) => f.rule)) as Cause["rules"],
    objects: sorted(own.flatMap((f) => objectOf(f) ?? [])),
    symbols: sorted(byKind(["symbol", "alias", "outlined-inline"]).map((f) => f.symbol)),
    instrumentation: sorted(byKind(["instrumentation"]).map((f) => f.symbol)),
    sections: byKind(["section"]).map(sectionOf),
    findings: own.map((f) => f.key),
  };
}

interface Group {
  anchor: Anchor;
  patch: number;
  own: AttributedFinding[];
}

/**
 * The cause a side effect belongs to. A section: a cause of the same patch with a finding in
 * the same object, an instrumentation first (it adds sections to every object it reaches).
 * An unclassified ld error: the patch's cause when it has exactly one.
 */
function sideEffectOwner(
  f: AttributedFinding,
  groups: readonly (readonly [string, Group])[],
): readonly [string, Group] | undefined {
  const same = groups.filter(([, g]) => g.patch === f.introducedBy);
  if (f.kind === "link") return same.length === 1 ? same[0] : undefined;
  const owners = same.filter(([, g]) =>
    g.own.some((o) => o.kind !== "section" && objectOf(o) === objectOf(f)),
  );
  return owners.find(([, g]) => g.own.some((o) => o.rule === RULES.instrumentation)) ?? owners[0];
}

export interface CauseGrouping {
  causes: Cause[];
  /** The findings as given, each with its `cause`. */
  findings: AttributedFinding[];
}

/**
 * Group a check's findings by cause. `patches[k - 1]` is the diff of patch k; without it
 * (an audit, or a stored result rendered again) a cause is where its findings are written
 * and the Makefile guard an instrumentation lacks. A side effect (a section no line
 * explains, an ld error with no place) belongs to another cause (`sideEffectOwner`), and is
 * a cause of its own only when there is none.
 */
export function groupByCause(
  findings: readonly AttributedFinding[],
  patches: readonly (readonly ChangedFile[] | undefined)[] = [],
): CauseGrouping {
  const lines = patches.map((files) => changedLines(files ?? []));
  const groups = new Map<string, Group>();
  const idOf = new Map<AttributedFinding, string>();
  const sideEffects: AttributedFinding[] = [];
  const add = (f: AttributedFinding, anchor: Anchor) => {
    const id = anchorId(f.introducedBy, anchor);
    const group = groups.get(id) ?? { anchor, patch: f.introducedBy, own: [] };
    group.own.push(f);
    groups.set(id, group);
    idOf.set(f, id);
  };
  for (const f of findings) {
    const anchor = anchorOf(f, lines[f.introducedBy - 1] ?? []);
    if (anchor) add(f, anchor);
    else sideEffects.push(f);
  }
  const placed = [...groups.entries()];
  for (const f of sideEffects) {
    const owner = sideEffectOwner(f, placed);
    if (owner) {
      owner[1].own.push(f);
      idOf.set(f, owner[0]);
    } else add(f, written(f));
  }
  const causes = [...groups.entries()]
    .map(([id, g]) => buildCause(id, g.anchor, g.patch, g.own))
    .sort(
      (a, b) =>
        a.introducedBy - b.introducedBy ||
        (a.file ?? "").localeCompare(b.file ?? "") ||
        (a.line ?? 0) - (b.line ?? 0),
    );
  return { causes, findings: findings.map((f) => ({ ...f, cause: idOf.get(f) ?? "" })) };
}
