/** Regular expressions built from names found in code. Pure. */

/** `text` matched literally inside a regular expression. */
export const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** `name` as a whole word of C or Make: not part of a longer identifier or `x.name`. */
export const wordPattern = (name: string): RegExp =>
  new RegExp(`(?<![\\w.$])${escapeRegExp(name)}(?![\\w$])`);
