import { extractText } from "./body.js";
import { classifyBotMail, knownBot } from "./bots.js";
import { stripListFooters } from "./footers.js";
import {
  decodeText,
  headerValue,
  messageIds,
  parseAddresses,
  splitMessage,
  type HeaderMap,
} from "./headers.js";
import {
  DEFAULT_MAIL_LIMITS,
  hasLineLongerThan,
  keepReferences,
  overLimitReason,
  subjectNumberOver,
  type MailLimits,
} from "./limits.js";
import { MAY_HOLD_METADATA, hasMetadata, parseMetadata, parsePatch } from "./patch.js";
import { parseSubject } from "./subject.js";
import { parseReplyTrailers } from "./trailers.js";
import {
  MailParseError,
  type MailMessage,
  type MailWarning,
  type Person,
  type RawMail,
} from "./types.js";

/** The header fields read; the rest (Received, DKIM, X-...) are skipped unparsed. */
const WANTED_HEADERS: ReadonlySet<string> = new Set([
  "message-id",
  "in-reply-to",
  "references",
  "from",
  "to",
  "cc",
  "reply-to",
  "x-original-from",
  "date",
  "subject",
  "list-id",
  "list-post",
  "auto-submitted",
  "x-patchwork-hint",
  "x-stable",
  "x-mailer",
  "content-type",
  "content-transfer-encoding",
  "mime-version",
]);

/**
 * A list's DMARC rewrite of From: `'Sami Tolvanen' via Clang Built Linux` (Google
 * Groups) or `Sami Tolvanen via kvmarm` (Mailman). The name before `via` is the author.
 */
const DMARC_REWRITE = /^'?(.*?)'? via (.+)$/;

/**
 * Parse one raw message. Throws MailParseError when nothing usable is there, or when the
 * message is over one of `limits` (the error names the limit).
 */
export async function parseMail(
  raw: RawMail,
  limits: MailLimits = DEFAULT_MAIL_LIMITS,
): Promise<MailMessage> {
  if (raw.raw.length === 0) throw new MailParseError(raw.origin, null, "empty message");
  if (raw.raw.length > limits.maxMessageBytes) {
    const what = `message of ${raw.raw.length} bytes`;
    throw new MailParseError(
      raw.origin,
      null,
      overLimitReason("maxMessageBytes", what, limits.maxMessageBytes),
    );
  }
  const { headers, hasHeaders, body } = splitMessage(raw.raw, WANTED_HEADERS);
  if (!hasHeaders) throw new MailParseError(raw.origin, null, "no header fields");
  const warnings: MailWarning[] = [];
  let messageId = messageIds(headerValue(headers, "message-id"))[0] ?? null;
  if (hasLineLongerThan(raw.raw, limits.maxLineBytes)) {
    const reason = overLimitReason("maxLineBytes", "a line is too long", limits.maxLineBytes);
    throw new MailParseError(raw.origin, messageId, reason);
  }
  try {
    if (messageId === null) {
      messageId = syntheticMessageId(raw.origin);
      warnings.push({
        kind: "missing-message-id",
        detail: `no usable Message-ID; using ${messageId}`,
      });
    }
    return await parseWithHeaders(raw, headers, body, messageId, warnings, limits);
  } catch (err) {
    if (err instanceof MailParseError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new MailParseError(raw.origin, messageId, reason);
  }
}

async function parseWithHeaders(
  raw: RawMail,
  headers: HeaderMap,
  body: Buffer,
  messageId: string,
  warnings: MailWarning[],
  limits: MailLimits,
): Promise<MailMessage> {
  const from = parseAddresses(headerValue(headers, "from"))[0] ?? { name: "", email: "" };
  if (from.email === "") warnings.push({ kind: "bad-header", detail: "no usable From" });
  const { author, dmarcRewritten } = realAuthor(headers, from);
  const date = parseDate(headerValue(headers, "date"), warnings);
  const subject = parseSubject(decodeText(headerValue(headers, "subject") ?? ""));
  const bigNumber = subjectNumberOver(subject, limits.maxSubjectNumber);
  if (bigNumber !== null) {
    const reason = overLimitReason("maxSubjectNumber", bigNumber, limits.maxSubjectNumber);
    throw new MailParseError(raw.origin, messageId, reason);
  }

  const content = await extractText(headers, body, limits);
  warnings.push(...content.warnings);
  const text = stripListFooters(content.text).text;
  const mainPatchText =
    content.patchText === undefined ? text : stripListFooters(content.patchText).text;
  const attachments = content.patchAttachments.map((a) => stripListFooters(a).text);
  // Parts follow each other on new lines; the last keeps its end as it is.
  const parts = [mainPatchText, ...attachments].filter((t) => t !== "");
  const patchSource = parts
    .map((t, i) => (i < parts.length - 1 && !t.endsWith("\n") ? t + "\n" : t))
    .join("");
  const patch = parsePatch(patchSource);
  if (patch !== null && content.flowed) {
    warnings.push({
      kind: "format-flowed-patch",
      detail: "the patch was sent format=flowed and is probably mangled",
    });
  }

  const automated = isAutomated(headers, from);
  const message: MailMessage = {
    messageId,
    inReplyTo: messageIds(headerValue(headers, "in-reply-to"))[0] ?? null,
    references: keepReferences(
      messageIds((headers.get("references") ?? []).join(" ")),
      limits.maxReferences,
    ),
    author,
    from,
    dmarcRewritten,
    to: parseAddresses((headers.get("to") ?? []).join(", ")),
    cc: parseAddresses((headers.get("cc") ?? []).join(", ")),
    date,
    subject,
    body: text,
    patch,
    // A bot's "kindly add Reported-by" is a suggestion, not a trailer given.
    replyTrailers:
      (patch === null || subject.isReply) && !automated ? parseReplyTrailers(text) : [],
    automated,
    botMail: classifyBotMail({
      header: (name) => headerValue(headers, name),
      from,
      subject,
      body: text,
    }),
    listId: listId(headerValue(headers, "list-id")),
    warnings,
    origin: raw.origin,
  };
  const metadata =
    patch?.metadata ??
    (MAY_HOLD_METADATA.test(patchSource) ? parseMetadata(patchSource.split("\n")) : null);
  if (metadata !== null && hasMetadata(metadata)) message.metadata = metadata;
  if (raw.commit !== undefined) message.commit = raw.commit;
  return message;
}

function realAuthor(headers: HeaderMap, from: Person): { author: Person; dmarcRewritten: boolean } {
  const rewrite = DMARC_REWRITE.exec(from.name);
  if (rewrite === null || !fromIsList(headers, from))
    return { author: from, dmarcRewritten: false };
  const original =
    parseAddresses(headerValue(headers, "x-original-from"))[0] ??
    parseAddresses(headerValue(headers, "reply-to"))[0];
  if (original !== undefined) {
    if (original.name === "") original.name = (rewrite[1] ?? "").trim();
    return { author: original, dmarcRewritten: true };
  }
  return { author: { name: (rewrite[1] ?? "").trim(), email: from.email }, dmarcRewritten: true };
}

/**
 * A `via` name alone is no proof (people are called many things): the From address must
 * be the list's own, or the list must have kept the original sender.
 */
function fromIsList(headers: HeaderMap, from: Person): boolean {
  if (headers.has("x-original-from")) return true;
  if (from.email.endsWith("@googlegroups.com")) return true;
  const post = /<mailto:([^>?]+)/i.exec(headerValue(headers, "list-post") ?? "")?.[1];
  return post !== undefined && post.toLowerCase() === from.email;
}

/** RFC 5322 dates; comments such as `(CET)` are ignored. Years outside 1970..2200 are bad. */
function parseDate(value: string | null, warnings: MailWarning[]): Date | null {
  if (value === null || value.trim() === "") {
    warnings.push({ kind: "bad-date", detail: "no Date header" });
    return null;
  }
  const cleaned = value
    .replace(/\([^()]*\)/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  const date = new Date(cleaned);
  const year = date.getUTCFullYear();
  if (Number.isNaN(date.getTime()) || year < 1970 || year > 2200) {
    warnings.push({ kind: "bad-date", detail: `unparseable Date "${value.slice(0, 80)}"` });
    return null;
  }
  return date;
}

function isAutomated(headers: HeaderMap, from: Person): boolean {
  const auto = headerValue(headers, "auto-submitted");
  if (auto !== null && auto.trim().toLowerCase() !== "no" && auto.trim() !== "") return true;
  return knownBot(from) !== undefined;
}

function listId(value: string | null): string | null {
  if (value === null) return null;
  const m = /<([^<>]+)>/.exec(value);
  const id = (m?.[1] ?? value).trim();
  return id === "" ? null : id;
}

function syntheticMessageId(origin: string): string {
  const safe = origin.replace(/[^A-Za-z0-9._#/-]+/g, "_").replace(/[/#]/g, ".");
  return `${safe}@hypwatch.invalid`;
}
