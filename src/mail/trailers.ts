import { parseAddresses } from "./headers.js";
import type { Trailer } from "./types.js";

/** Trailer names as the kernel writes them (Documentation/process/submitting-patches.rst). */
const CANONICAL = [
  "Signed-off-by",
  "Reviewed-by",
  "Acked-by",
  "Tested-by",
  "Reported-by",
  "Suggested-by",
  "Co-developed-by",
  "Requested-by",
  "Reported-and-tested-by",
  "Debugged-by",
  "Originally-by",
  "Cc",
  "Fixes",
  "Link",
  "Closes",
  "Message-ID",
  "Change-Id",
  "Bug",
];
const CANONICAL_BY_LOWER = new Map(CANONICAL.map((n) => [n.toLowerCase(), n]));

/** Trailers a reviewer gives in a reply, which count towards the patch under review. */
export const REVIEW_TRAILERS = new Set([
  "Reviewed-by",
  "Acked-by",
  "Tested-by",
  "Reported-by",
  "Suggested-by",
  "Reported-and-tested-by",
  "Nacked-by",
]);

const TRAILER_LINE = /^([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*):[ \t]*(\S.*)$/;

/** `reviewed-BY` -> `Reviewed-by`; unknown `*-by` names are capitalised the same way. */
export function canonicalTrailerName(name: string): string | null {
  const lower = name.toLowerCase();
  const known = CANONICAL_BY_LOWER.get(lower);
  if (known !== undefined) return known;
  if (lower.endsWith("-by")) return lower.charAt(0).toUpperCase() + lower.slice(1);
  return null;
}

/** Parse one line as a trailer; null when it is not one. */
export function parseTrailerLine(line: string): Trailer | null {
  const m = TRAILER_LINE.exec(line.trimEnd());
  if (!m || m[1] === undefined || m[2] === undefined) return null;
  const name = canonicalTrailerName(m[1]);
  if (name === null) return null;
  const value = m[2].trim();
  const trailer: Trailer = { name, value };
  if (name.endsWith("-by") || name === "Cc") {
    // `Cc: <stable@vger.kernel.org> # 5.10.x` keeps its comment in `value` only.
    const person = parseAddresses(value.replace(/\s+#.*$/, ""))[0];
    if (person !== undefined && person.email.includes("@")) trailer.person = person;
  }
  return trailer;
}

/**
 * The trailers of a commit message: every line, at the start of the line, that names a
 * known trailer (Signed-off-by, Reviewed-by, Fixes, Link, Cc, ...) or any `*-by`.
 * Kernel commit messages keep them in the last paragraph, but a `Fixes:` or `Link:` is
 * sometimes put higher up and still means the same.
 */
export function parseTrailers(text: string): Trailer[] {
  const trailers: Trailer[] = [];
  for (const line of text.split("\n")) {
    const t = parseTrailerLine(line);
    if (t !== null) trailers.push(t);
  }
  return trailers;
}

/**
 * Review trailers a reviewer writes in a reply (`Reviewed-by: ...` at the start of a
 * line, perhaps indented). Quoted text (`>`) is someone else's and is skipped, as are the
 * lines of a diff pasted into the reply; the signature (`-- `) ends the search.
 */
export function parseReplyTrailers(body: string): Trailer[] {
  const trailers: Trailer[] = [];
  let inDiff = false;
  for (const line of body.split("\n")) {
    if (line.startsWith("-- ")) break;
    // Reviewers paste diffs and give their tag below them: skip the diff, read on.
    if (line.startsWith("diff --git ")) inDiff = true;
    else if (
      inDiff &&
      !/^([ +\-@\\]|index |new file|deleted file|similarity|rename |old mode|new mode)/.test(line)
    )
      inDiff = false;
    if (inDiff || line.startsWith(">")) continue;
    // b4 reads tags indented by a space or two, as people type them.
    const t = parseTrailerLine(line.trimStart());
    if (t !== null && REVIEW_TRAILERS.has(t.name)) trailers.push(t);
  }
  return trailers;
}
