/**
 * Characters that must not reach a terminal as they are: C0 controls (ESC starts terminal
 * escape sequences, CR rewrites the line, BS erases), DEL, C1 controls (0x9b is a one-byte
 * CSI), the Unicode bidi embeddings, overrides and isolates that reorder what is shown
 * ("Trojan Source"), the marks that do so less visibly, and the line and paragraph
 * separators.
 */
const UNSAFE =
  // Matching control characters is the point here.
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r", "\u001b": "\\e" };

/**
 * Text from mail (subjects, names, paths) made safe for one line of terminal output:
 * every unsafe character is written as a visible escape (`\e`, `\r`, `\u202e`), and a
 * backslash as `\\` so that an escape in the text cannot pass for one of ours.
 */
export function escapeText(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(UNSAFE, (c) => NAMED[c] ?? unicodeEscape(c));
}

function unicodeEscape(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}
