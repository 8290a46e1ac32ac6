/**
 * List decorations that lists append to every message. They are not part of what the
 * author wrote and must never end up in a patch.
 */

/** The last occurrence of `needle` within the last `window` characters, or -1. */
function lastIndexNearEnd(text: string, needle: string, window: number): number {
  const start = Math.max(0, text.length - window);
  const at = text.slice(start).lastIndexOf(needle);
  return at < 0 ? -1 : start + at;
}

const MAILMAN_RULE = "_______________________________________________";

/**
 * A Mailman footer: the rule, then `<list> mailing list`, the list address and the
 * listinfo URL (sometimes more lines), up to the end of the text.
 */
function mailmanFooterStart(text: string): number | null {
  // The footer is a few short lines; a rule further up is part of the text.
  const at = lastIndexNearEnd(text, MAILMAN_RULE, 1024);
  if (at < 0) return null;
  const tail = text.slice(at + MAILMAN_RULE.length);
  const lines = tail.split("\n").filter((l, i, all) => !(i === all.length - 1 && l === ""));
  // The rule ends its line; the footer is a handful of lines, one of them naming the list.
  if (lines[0]?.trim() !== "" || lines.length > 8) return null;
  // A quoted footer (`> kvmarm mailing list`) is part of the text.
  if (lines.some((l) => l.startsWith(">"))) return null;
  // Mailman appends to a body that may not end in a newline: `> ` + rule. The rule
  // then starts mid-line and only the rule onwards is the footer.
  const lineStart = text.lastIndexOf("\n", at - 1) + 1;
  if (!/^[> \t]*$/.test(text.slice(lineStart, at))) return null;
  if (!lines.some((l) => /mailing list|\/mailman\/listinfo\/|^https?:\/\/lists\./i.test(l))) {
    return null;
  }
  return at;
}

const GOOGLE_GROUPS = "You received this message because you are subscribed to the Google Groups";

function googleGroupsFooterStart(text: string): number | null {
  const at = lastIndexNearEnd(text, GOOGLE_GROUPS, 2048);
  if (at < 0) return null;
  // The footer is introduced by a signature separator `-- ` on its own line.
  const sep = text.lastIndexOf("\n-- \n", at);
  if (sep >= 0 && text.slice(sep + 5, at).trim() === "") return sep + 1;
  if (text.startsWith("-- \n") && text.slice(4, at).trim() === "") return 0;
  if (at === 0 || text[at - 1] === "\n") return at;
  return null;
}

/**
 * Remove Mailman and Google Groups footers from the end of a text body, repeatedly (a
 * message that went through two lists carries two). The text before a footer is kept
 * byte for byte, blank lines included (format-patch ends its signature with one).
 */
export function stripListFooters(text: string): { text: string; stripped: number } {
  let current = text;
  let stripped = 0;
  for (;;) {
    const at = mailmanFooterStart(current) ?? googleGroupsFooterStart(current);
    if (at === null) break;
    current = current.slice(0, at);
    stripped++;
  }
  return { text: current, stripped };
}
