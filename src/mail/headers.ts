import libmime from "libmime";
import addressparser, { type Address } from "nodemailer/lib/addressparser";
import type { Person } from "./types.js";

/** The header block of a message, field names lower-cased, folded lines joined. */
export type HeaderMap = Map<string, string[]>;

export interface SplitMessage {
  headers: HeaderMap;
  /** The header block has at least one field (wanted or not). */
  hasHeaders: boolean;
  /** The body bytes after the blank line that ends the header block. */
  body: Buffer;
}

/**
 * Split a message into its header block and body. A message without the blank line is
 * all header (RFC 5322 allows no body); a message whose first line is not a header
 * field is all body, as some broken archives store it.
 */
export function splitMessage(raw: Buffer, wanted?: ReadonlySet<string>): SplitMessage {
  const end = headerEnd(raw);
  const headerText = raw.subarray(0, end.headerLength).toString("utf8");
  const headers = parseHeaderBlock(headerText, wanted);
  const hasHeaders = headers.size > 0 || /^[^\s:]+:/m.test(headerText);
  return { headers, hasHeaders, body: raw.subarray(end.bodyStart) };
}

function headerEnd(raw: Buffer): { headerLength: number; bodyStart: number } {
  // A message may start with the blank line (no headers at all).
  if (raw[0] === 0x0a) return { headerLength: 0, bodyStart: 1 };
  if (raw[0] === 0x0d && raw[1] === 0x0a) return { headerLength: 0, bodyStart: 2 };
  let from = 0;
  for (;;) {
    const nl = raw.indexOf(0x0a, from);
    if (nl < 0) return { headerLength: raw.length, bodyStart: raw.length };
    const next = raw[nl + 1];
    if (next === 0x0a) return { headerLength: nl + 1, bodyStart: nl + 2 };
    if (next === 0x0d && raw[nl + 2] === 0x0a) return { headerLength: nl + 1, bodyStart: nl + 3 };
    from = nl + 1;
  }
}

/**
 * Parse an RFC 5322 header block into unfolded field values (names lower-cased). With
 * `wanted`, other fields are skipped (list mail carries dozens of Received lines).
 */
export function parseHeaderBlock(text: string, wanted?: ReadonlySet<string>): HeaderMap {
  const headers: HeaderMap = new Map();
  let name: string | null = null;
  let value = "";
  const flush = (): void => {
    if (name === null) return;
    const list = headers.get(name);
    const v = value.trim();
    if (list) list.push(v);
    else headers.set(name, [v]);
    name = null;
  };
  for (const rawLine of text.split("\n")) {
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (line === "") continue;
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      if (name !== null) value += " " + line.trim();
      continue;
    }
    flush();
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const fieldName = line.slice(0, colon).trim().toLowerCase();
    if (fieldName === "" || /\s/.test(fieldName)) continue;
    if (wanted !== undefined && !wanted.has(fieldName)) continue;
    name = fieldName;
    value = line.slice(colon + 1);
  }
  flush();
  return headers;
}

/** The first value of a header field, or null. */
export function headerValue(headers: HeaderMap, name: string): string | null {
  return headers.get(name)?.[0] ?? null;
}

/** Decode RFC 2047 encoded words; a malformed word is left as it is. */
export function decodeWords(value: string): string {
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}

/** Decoded, whitespace-folded text of an unstructured header (Subject). */
export function decodeText(value: string): string {
  return decodeWords(value).replace(/\s+/g, " ").trim();
}

const SIMPLE_MAILBOX = /^([^<>]*?)\s*<([^<>\s]+)>$/;
const BARE_ADDRESS = /^[^\s<>]+$/;

/**
 * The common `Name <a@b>, c@d` lists without quotes, comments or groups, read without
 * addressparser (which costs more than the rest of a message; kernel mail has long Cc
 * lists). Null when the value needs the full parser.
 */
function parseSimpleAddresses(value: string): Person[] | null {
  if (/["()\\:;]/.test(value)) return null;
  const people: Person[] = [];
  for (const piece of value.split(",")) {
    const entry = piece.trim();
    if (entry === "") continue;
    const mailbox = SIMPLE_MAILBOX.exec(entry);
    if (mailbox !== null) {
      const name = (mailbox[1] ?? "").replace(/\s+/g, " ");
      people.push({
        name: name.includes("=?") ? cleanName(decodeWords(name)) : name,
        email: (mailbox[2] ?? "").toLowerCase(),
      });
      continue;
    }
    if (!BARE_ADDRESS.test(entry) || !entry.includes("@")) return null;
    people.push({ name: "", email: entry.toLowerCase() });
  }
  return people;
}

/** Parse an address-list header into people, names decoded, emails lower-cased. */
export function parseAddresses(value: string | null): Person[] {
  if (value === null || value.trim() === "") return [];
  const simple = parseSimpleAddresses(value);
  if (simple !== null) return simple;
  return parseWithAddressparser(value);
}

/** The same, always through nodemailer's addressparser. */
export function parseWithAddressparser(value: string): Person[] {
  let parsed: Address[];
  try {
    parsed = addressparser(value);
  } catch {
    return [];
  }
  const people: Person[] = [];
  const add = (list: Address[]): void => {
    for (const entry of list) {
      if (entry.group) {
        add(entry.group);
        continue;
      }
      const email = entry.address.trim().toLowerCase();
      const name = cleanName(decodeWords(entry.name));
      if (email === "" && name === "") continue;
      people.push({ name, email });
    }
  };
  add(parsed);
  return people;
}

function cleanName(name: string): string {
  let n = name.replace(/\s+/g, " ").trim();
  // `"'Sami Tolvanen' via Clang Built Linux"` keeps its quotes after decoding.
  if (n.length >= 2 && n.startsWith('"') && n.endsWith('"')) n = n.slice(1, -1).trim();
  return n;
}

/** Message-ids (without angle brackets) in the order they appear in a header value. */
export function messageIds(value: string | null): string[] {
  if (value === null) return [];
  const ids: string[] = [];
  const re = /<([^<>\s]+)>/g;
  for (let m = re.exec(value); m !== null; m = re.exec(value)) {
    if (m[1] !== undefined) ids.push(m[1]);
  }
  if (ids.length === 0) {
    // Some mailers drop the brackets: `Message-ID: 1234@host`.
    for (const token of value.split(/\s+/)) {
      if (/^[^\s@<>()]+@[^\s@<>()]+$/.test(token)) ids.push(token);
    }
  }
  return ids;
}

/** The `type/subtype` and parameters of a Content-Type (or Content-Disposition) value. */
export interface ParsedHeaderValue {
  value: string;
  params: Record<string, string>;
}

export function parseStructured(value: string | null): ParsedHeaderValue {
  if (value === null) return { value: "", params: {} };
  try {
    const parsed = libmime.parseHeaderValue(value);
    const params: Record<string, string> = {};
    for (const [key, v] of Object.entries(parsed.params)) {
      if (typeof v === "string") params[key.toLowerCase()] = v;
    }
    return { value: String(parsed.value).trim().toLowerCase(), params };
  } catch {
    return { value: value.split(";")[0]?.trim().toLowerCase() ?? "", params: {} };
  }
}
