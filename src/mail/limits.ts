import { z } from "zod";
import type { ParsedSubject } from "./types.js";

const MiB = 1024 * 1024;

/**
 * What one mail, one source and one thread may cost. Mail is written by anyone: every
 * size, count and depth read from it is held to these, and a message over one is skipped
 * with an error naming it while the run goes on.
 */
export const mailLimitsSchema = z.object({
  /** Bytes of one raw message. The largest kvmarm mail is 386 kB; 16 MiB is 40 times that. */
  maxMessageBytes: z
    .number()
    .int()
    .positive()
    .default(16 * MiB),
  /** Bytes of one line. Real patch lines stay far below 10 kB; base64 lines are 76 bytes. */
  maxLineBytes: z
    .number()
    .int()
    .positive()
    .default(1 * MiB),
  /** Multipart containers in one message (bounds MIME nesting); real mail has at most 3. */
  maxMimeDepth: z.number().int().positive().default(16),
  /** MIME parts in one message; real list mail has fewer than 20. */
  maxMimeParts: z.number().int().positive().default(256),
  /** Bytes a gzip'd mbox may inflate to. The whole kvmarm archive is 206 MB of mail. */
  maxDecompressedBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * MiB),
  /** Messages read from one source. kvmarm has 21,367 in four years. */
  maxMessagesPerSource: z.number().int().positive().default(2_000_000),
  /** Patch number, patch count and version in a subject; real series stay below 1,000. */
  maxSubjectNumber: z.number().int().positive().default(10_000),
  /** References kept per message (the first and the newest); git send-email writes a few. */
  maxReferences: z.number().int().positive().default(200),
  /** Replies above a message in one thread; a message deeper starts a thread of its own. */
  maxThreadDepth: z.number().int().positive().default(1_000),
  /** Direct replies to one message; later ones start a thread of their own. */
  maxThreadFanOut: z.number().int().positive().default(5_000),
  /** Other revisions listed per series, the newest; a family of thousands is spam, not work. */
  maxRevisionsListed: z.number().int().positive().default(100),
});

export type MailLimits = z.infer<typeof mailLimitsSchema>;

/** The limits when nothing is configured. */
export const DEFAULT_MAIL_LIMITS: MailLimits = mailLimitsSchema.parse({});

/** Environment variables of the mail limits, one per field. */
export const MAIL_LIMIT_ENV: Record<keyof MailLimits, string> = {
  maxMessageBytes: "HYPWATCH_MAX_MESSAGE_BYTES",
  maxLineBytes: "HYPWATCH_MAX_LINE_BYTES",
  maxMimeDepth: "HYPWATCH_MAX_MIME_DEPTH",
  maxMimeParts: "HYPWATCH_MAX_MIME_PARTS",
  maxDecompressedBytes: "HYPWATCH_MAX_DECOMPRESSED_BYTES",
  maxMessagesPerSource: "HYPWATCH_MAX_MESSAGES_PER_SOURCE",
  maxSubjectNumber: "HYPWATCH_MAX_SUBJECT_NUMBER",
  maxReferences: "HYPWATCH_MAX_REFERENCES",
  maxThreadDepth: "HYPWATCH_MAX_THREAD_DEPTH",
  maxThreadFanOut: "HYPWATCH_MAX_THREAD_FAN_OUT",
  maxRevisionsListed: "HYPWATCH_MAX_REVISIONS_LISTED",
};

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
