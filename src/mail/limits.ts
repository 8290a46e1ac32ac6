import { MAIL_LIMIT_ENV, type MailLimits } from "../config.js";
import type { ParsedSubject } from "./types.js";

/** Why a mail is over one of the limits, naming the limit and how to raise it. */
export function overLimitReason(limit: keyof MailLimits, what: string, cap: number): string {
  return `${what}, over the limit of ${cap} (${MAIL_LIMIT_ENV[limit]})`;
}

/** True when some line of `raw` (its line end not counted) is longer than `cap` bytes. */
export function hasLineLongerThan(raw: Buffer, cap: number): boolean {
  let start = 0;
  while (start < raw.length) {
    const nl = raw.indexOf(0x0a, start);
    const end = nl === -1 ? raw.length : nl;
    if (end - start > cap) return true;
    start = end + 1;
  }
  return false;
}

/**
 * The first number of a subject above `cap` (patch number, patch count, version), or
 * null. Assembly never loops over them, but a count of 10^20 is not a series.
 */
export function subjectNumberOver(subject: ParsedSubject, cap: number): string | null {
  const numbers: [string, number | null][] = [
    ["patch number", subject.index],
    ["patch count", subject.total],
    ["version", subject.version],
  ];
  for (const [name, value] of numbers) {
    if (value !== null && !(value <= cap)) return `subject claims ${name} ${String(value)}`;
  }
  return null;
}

/**
 * References as kept: the first (the thread's root) and the newest `cap - 1`. Threading
 * reads the newest ones; a list of thousands only costs time.
 */
export function keepReferences(references: string[], cap: number): string[] {
  if (references.length <= cap) return references;
  const first = references.slice(0, 1);
  return cap <= 1 ? first : [...first, ...references.slice(references.length - (cap - 1))];
}

export interface MimeShape {
  /** `boundary=` parameters: every multipart container declares one. */
  multiparts: number;
  /** Delimiter lines of the declared boundaries: every part starts with one. */
  parts: number;
}

const BOUNDARY = /boundary\s*=\s*(?:"([^"\r\n]*)"|([^;\s]+))/gi;

/**
 * Count multipart containers and parts without parsing, so a message that would cost
 * mailparser too much is refused before it is handed over. Both counts are upper bounds
 * of what a parser would find: the depth of nesting is at most the number of containers.
 */
export function mimeShape(contentType: string, body: Buffer): MimeShape {
  const text = body.toString("latin1");
  const boundaries = new Set<string>();
  let multiparts = 0;
  for (const source of [contentType, text]) {
    for (const m of source.matchAll(BOUNDARY)) {
      multiparts++;
      const name = m[1] ?? m[2];
      if (name) boundaries.add(name);
    }
  }
  let parts = 0;
  if (boundaries.size > 0) {
    let start = 0;
    while (start < text.length) {
      const nl = text.indexOf("\n", start);
      const end = nl === -1 ? text.length : nl;
      if (text.startsWith("--", start)) {
        const line = text.slice(start + 2, end).trimEnd();
        const name = line.endsWith("--") ? line.slice(0, -2) : line;
        if (boundaries.has(name) && !line.endsWith("--")) parts++;
      }
      start = end + 1;
    }
  }
  return { multiparts, parts };
}
