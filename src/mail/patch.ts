import { parseAddresses } from "./headers.js";
import { parseTrailers } from "./trailers.js";
import type { FileDiff, FileStatus, Hunk, Patch, PatchMetadata, Person } from "./types.js";

/**
 * Where `git mailinfo` ends the commit message (mailinfo.c `patchbreak`): a `diff -`
 * line, a CVS `Index: ` line, `--- <name>` or a `---` separator followed only by
 * whitespace.
 */
export function isPatchBreak(line: string): boolean {
  if (line.startsWith("diff -") || line.startsWith("Index: ")) return true;
  // mailinfo counts the newline; our lines have none, so its `len < 4` is `length < 3`.
  if (line.length < 3 || !line.startsWith("---")) return false;
  if (line.length === 3) return true;
  if (line[3] === " " && line.length > 4 && !/\s/.test(line[4] ?? "")) return true;
  return /^\s*$/.test(line.slice(3));
}

/** A line that starts the diff proper (not the `---` separator or the diffstat). */
function isDiffStart(lines: string[], i: number): boolean {
  const line = lines[i] ?? "";
  if (line.startsWith("diff --git ") || line.startsWith("diff -")) return true;
  if (line.startsWith("Index: ")) return true;
  return line.startsWith("--- ") && (lines[i + 1] ?? "").startsWith("+++ ");
}

/** Every diff start (isDiffStart) begins a line with one of these. */
const MAY_START_DIFF = /^(diff -|Index: |--- )/m;
/** Every footer parseMetadata reads begins a line with one of these. */
export const MAY_HOLD_METADATA =
  /^(base-commit|prerequisite-patch-id|change-id|prerequisite-change-id|prerequisite-message-id|based-on|depends-on):/im;

const IN_BODY_HEADER = /^(from|subject|date):/i;

interface CommitSplit {
  /** Index of the patch-break line, or lines.length when there is none. */
  breakAt: number;
  message: string;
  inBodyFrom: Person | null;
  inBodySubject: string | null;
}

/**
 * Split off the commit message the way `git mailinfo` does: leading blank lines and
 * in-body `From:`/`Subject:`/`Date:` headers (with their continuation lines and the
 * blank line after them) are not part of it, and it ends before the patch break.
 */
function splitCommitMessage(lines: string[]): CommitSplit {
  let i = 0;
  let inBodyFrom: Person | null = null;
  let inBodySubject: string | null = null;
  const seen = new Set<string>();
  let headerStage = true;
  let accumulating: { name: string; value: string } | null = null;
  const flush = (): void => {
    if (accumulating === null) return;
    if (accumulating.name === "from") inBodyFrom = parseAddresses(accumulating.value)[0] ?? null;
    if (accumulating.name === "subject") inBodySubject = accumulating.value.trim();
    accumulating = null;
  };
  for (; i < lines.length && headerStage; i++) {
    const line = lines[i] ?? "";
    if (line === "") {
      if (accumulating !== null) {
        flush();
        headerStage = false;
      }
      continue;
    }
    if (accumulating !== null && (line.startsWith(" ") || line.startsWith("\t"))) {
      accumulating.value += line;
      continue;
    }
    flush();
    const m = IN_BODY_HEADER.exec(line);
    if (m && m[1] !== undefined && !seen.has(m[1].toLowerCase())) {
      const name = m[1].toLowerCase();
      seen.add(name);
      accumulating = { name, value: line.slice(line.indexOf(":") + 1) };
      continue;
    }
    break;
  }
  flush();
  const start = i;
  let breakAt = lines.length;
  for (let j = start; j < lines.length; j++) {
    if (isPatchBreak(lines[j] ?? "")) {
      breakAt = j;
      break;
    }
  }
  const messageLines = lines.slice(start, breakAt);
  const message = messageLines.length === 0 ? "" : messageLines.join("\n") + "\n";
  return { breakAt, message, inBodyFrom, inBodySubject };
}

/**
 * Parse a patch mail body: commit message, diff and its files, trailers, and the
 * format-patch/b4 footers. Returns null when the text carries no diff.
 *
 * The split follows `git mailinfo`: `commitMessage` is what it writes as the message,
 * `diff` is its patch file from the first diff line on (the `---` separator and the
 * diffstat before it are dropped). Footers must be stripped before (stripListFooters).
 */
export function parsePatch(text: string): Patch | null {
  // Most list mail is replies without a diff; they need not be split into lines.
  if (!MAY_START_DIFF.test(text)) return null;
  const lines = text.split("\n");
  // A text ending in a newline gives a last empty element that is not a line.
  const endsWithNewline = lines[lines.length - 1] === "";
  if (endsWithNewline) lines.pop();
  const split = splitCommitMessage(lines);
  let diffAt = -1;
  for (let j = split.breakAt; j < lines.length; j++) {
    if (isDiffStart(lines, j)) {
      diffAt = j;
      break;
    }
  }
  if (diffAt < 0) return null;
  const diffLines = lines.slice(diffAt);
  const files = parseDiff(diffLines);
  if (files.length === 0) return null;
  const patch: Patch = {
    commitMessage: split.message,
    // Byte for byte to the end of the text, as mailinfo copies it (even a last line
    // without its newline).
    diff: diffLines.join("\n") + (endsWithNewline ? "\n" : ""),
    files,
    trailers: parseTrailers(split.message),
    metadata: parseMetadata(lines),
  };
  if (split.inBodyFrom !== null) patch.inBodyFrom = split.inBodyFrom;
  if (split.inBodySubject !== null) patch.inBodySubject = split.inBodySubject;
  return patch;
}

const METADATA_LINE =
  /^(base-commit|prerequisite-patch-id|change-id|prerequisite-change-id|prerequisite-message-id|based-on|depends-on):[ \t]*(\S+)/i;

/** format-patch `--base`, b4, Patchew and Patchwork footers, wherever they sit. */
export function parseMetadata(lines: string[]): PatchMetadata {
  const meta: PatchMetadata = {
    baseCommit: null,
    prerequisitePatchIds: [],
    changeId: null,
    prerequisiteChangeIds: [],
    prerequisiteMessageIds: [],
    basedOn: [],
    dependsOn: [],
  };
  for (const line of lines) {
    const m = METADATA_LINE.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    const value = m[2].replace(/^<(.*)>$/, "$1");
    switch (m[1].toLowerCase()) {
      case "base-commit":
        meta.baseCommit ??= value;
        break;
      case "prerequisite-patch-id":
        meta.prerequisitePatchIds.push(value);
        break;
      case "change-id":
        meta.changeId ??= value;
        break;
      case "prerequisite-change-id":
        meta.prerequisiteChangeIds.push(value);
        break;
      case "prerequisite-message-id":
        meta.prerequisiteMessageIds.push(value);
        break;
      case "based-on":
        meta.basedOn.push(value);
        break;
      case "depends-on":
        meta.dependsOn.push(value);
        break;
    }
  }
  return meta;
}

/** True when any footer was found. */
export function hasMetadata(meta: PatchMetadata): boolean {
  return (
    meta.baseCommit !== null ||
    meta.changeId !== null ||
    meta.prerequisitePatchIds.length > 0 ||
    meta.prerequisiteChangeIds.length > 0 ||
    meta.prerequisiteMessageIds.length > 0 ||
    meta.basedOn.length > 0 ||
    meta.dependsOn.length > 0
  );
}

const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$/;

/** Parse the file diffs of a patch (git, plain unified and CVS `Index:` style). */
export function parseDiff(lines: string[]): FileDiff[] {
  const files: FileDiff[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? "";
    if (line.startsWith("diff --git ")) {
      i = parseGitFile(lines, i, files);
      continue;
    }
    if (line.startsWith("--- ") && (lines[i + 1] ?? "").startsWith("+++ ")) {
      i = parsePlainFile(lines, i, files);
      continue;
    }
    i++;
  }
  return files;
}

function parseGitFile(lines: string[], start: number, files: FileDiff[]): number {
  const header = gitHeaderPaths((lines[start] ?? "").slice("diff --git ".length));
  let oldPath: string | null = header?.oldPath ?? null;
  let newPath: string | null = header?.newPath ?? null;
  let status: FileStatus = "modified";
  let binary = false;
  let modeChange = false;
  let i = start + 1;
  for (; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.startsWith("new file mode ")) status = "added";
    else if (line.startsWith("deleted file mode ")) status = "deleted";
    else if (line.startsWith("rename from ")) {
      status = "renamed";
      oldPath = unquote(line.slice("rename from ".length));
    } else if (line.startsWith("rename to ")) newPath = unquote(line.slice("rename to ".length));
    else if (line.startsWith("copy from ")) {
      status = "copied";
      oldPath = unquote(line.slice("copy from ".length));
    } else if (line.startsWith("copy to ")) newPath = unquote(line.slice("copy to ".length));
    else if (line.startsWith("old mode ") || line.startsWith("new mode ")) modeChange = true;
    else if (
      line.startsWith("similarity index ") ||
      line.startsWith("dissimilarity index ") ||
      line.startsWith("index ")
    ) {
      // Nothing to record.
    } else if (line.startsWith("Binary files ") || line === "GIT binary patch") {
      binary = true;
    } else if (line.startsWith("--- ")) {
      const p = diffPath(line.slice(4), "a/");
      if (p !== undefined) oldPath = p;
    } else if (line.startsWith("+++ ")) {
      const p = diffPath(line.slice(4), "b/");
      if (p !== undefined) newPath = p;
    } else if (/^(literal|delta) \d+$/.test(line) || (binary && /^[A-Za-z]/.test(line))) {
      // Lines of a GIT binary patch.
    } else break;
  }
  const hunks: Hunk[] = [];
  i = readHunks(lines, i, hunks);
  if (status === "added") oldPath = null;
  if (status === "deleted") newPath = null;
  if (status === "modified" && modeChange && hunks.length === 0 && !binary) status = "mode-only";
  files.push({ oldPath, newPath, status, binary, hunks });
  return i;
}

function parsePlainFile(lines: string[], start: number, files: FileDiff[]): number {
  let oldPath = diffPath((lines[start] ?? "").slice(4), "a/", true) ?? null;
  let newPath = diffPath((lines[start + 1] ?? "").slice(4), "b/", true) ?? null;
  const hunks: Hunk[] = [];
  const end = readHunks(lines, start + 2, hunks);
  let status: FileStatus = "modified";
  if (oldPath === null && newPath !== null) status = "added";
  else if (newPath === null && oldPath !== null) status = "deleted";
  // A plain diff of an existing file names the same path twice (a/x, b/x).
  if (oldPath === null && newPath === null) {
    oldPath = null;
    newPath = null;
  }
  files.push({ oldPath, newPath, status, binary: false, hunks });
  return end;
}

/** Read consecutive hunks from `start`; returns the index after the last one. */
function readHunks(lines: string[], start: number, hunks: Hunk[]): number {
  let i = start;
  while (i < lines.length) {
    const m = HUNK_HEADER.exec(lines[i] ?? "");
    if (!m) break;
    const hunk: Hunk = {
      oldStart: Number(m[1]),
      oldLines: m[2] === undefined ? 1 : Number(m[2]),
      newStart: Number(m[3]),
      newLines: m[4] === undefined ? 1 : Number(m[4]),
      section: (m[5] ?? "").trim(),
      lines: [],
    };
    i++;
    let oldLeft = hunk.oldLines;
    let newLeft = hunk.newLines;
    while (i < lines.length && (oldLeft > 0 || newLeft > 0 || lines[i]?.startsWith("\\"))) {
      const line = lines[i] ?? "";
      const c = line[0];
      if (c === " " || line === "") {
        // An empty line is a context line whose trailing space a mailer removed.
        oldLeft--;
        newLeft--;
      } else if (c === "-") oldLeft--;
      else if (c === "+") newLeft--;
      else if (c !== "\\") break;
      hunk.lines.push(line);
      i++;
    }
    hunks.push(hunk);
  }
  return i;
}

/** `a/foo b/foo` of a `diff --git` line; quoted names are C-unquoted. */
function gitHeaderPaths(rest: string): { oldPath: string; newPath: string } | null {
  if (rest.startsWith('"')) {
    const end = closingQuote(rest, 0);
    if (end < 0) return null;
    const a = unquote(rest.slice(0, end + 1));
    const b = unquote(rest.slice(end + 1).trim());
    return { oldPath: stripPrefix(a, "a/"), newPath: stripPrefix(b, "b/") };
  }
  // Unquoted: both names are the same path when there is no rename, so split in the middle.
  const parts = rest.split(" ");
  for (let k = 1; k < parts.length; k++) {
    const a = parts.slice(0, k).join(" ");
    const b = parts.slice(k).join(" ");
    if (stripPrefix(a, "a/") === stripPrefix(b, "b/")) {
      return { oldPath: stripPrefix(a, "a/"), newPath: stripPrefix(b, "b/") };
    }
  }
  if (parts.length === 2 && parts[0] !== undefined && parts[1] !== undefined) {
    return { oldPath: stripPrefix(parts[0], "a/"), newPath: stripPrefix(parts[1], "b/") };
  }
  return null;
}

function closingQuote(s: string, open: number): number {
  for (let k = open + 1; k < s.length; k++) {
    if (s[k] === "\\") k++;
    else if (s[k] === '"') return k;
  }
  return -1;
}

function stripPrefix(p: string, prefix: string): string {
  return p.startsWith(prefix) ? p.slice(prefix.length) : p;
}

/**
 * The path of a `---`/`+++` line: `/dev/null` is null; git's `a/` `b/` prefix is
 * removed; a plain diff also loses its timestamp (after a tab) and, like `patch -p1`,
 * its first directory. Returns undefined when the line names nothing.
 */
function diffPath(value: string, prefix: string, plain = false): string | null | undefined {
  let v = value.startsWith('"') ? unquote(value.slice(0, closingQuote(value, 0) + 1)) : value;
  const tab = v.indexOf("\t");
  if (tab >= 0) v = v.slice(0, tab);
  v = v.trimEnd();
  if (v === "") return undefined;
  if (v === "/dev/null") return null;
  if (v.startsWith(prefix)) return v.slice(prefix.length);
  if (plain) {
    const slash = v.indexOf("/");
    if (slash > 0) return v.slice(slash + 1);
  }
  return v;
}

/** Undo git's C-style quoting of a path (`"a/t\303\251st"`). */
function unquote(value: string): string {
  if (!value.startsWith('"') || !value.endsWith('"') || value.length < 2) return value;
  const inner = value.slice(1, -1);
  const bytes: number[] = [];
  for (let k = 0; k < inner.length; k++) {
    const c = inner[k] ?? "";
    if (c !== "\\") {
      bytes.push(...Buffer.from(c, "utf8"));
      continue;
    }
    const n = inner[++k] ?? "";
    const esc: Record<string, number> = {
      n: 10,
      t: 9,
      '"': 34,
      "\\": 92,
      a: 7,
      b: 8,
      f: 12,
      r: 13,
      v: 11,
    };
    if (/[0-7]/.test(n)) {
      const oct = inner.slice(k, k + 3);
      bytes.push(parseInt(oct, 8));
      k += 2;
    } else bytes.push(esc[n] ?? n.charCodeAt(0));
  }
  return Buffer.from(bytes).toString("utf8");
}
