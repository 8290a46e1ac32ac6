import iconv from "iconv-lite";
import libmime from "libmime";
import { decode as decodeBytes } from "libmime/lib/charset.js";
import { decode as decodeQuotedPrintable } from "libqp";
import { simpleParser, type Attachment } from "mailparser";
import { headerValue, parseStructured, type HeaderMap } from "./headers.js";
import { DEFAULT_MAIL_LIMITS, mimeShape, overLimitReason, type MailLimits } from "./limits.js";
import type { MailWarning } from "./types.js";

/** The text of a message that later steps read. */
export interface MessageText {
  /** The inline text/plain parts, decoded and joined, `\n` line ends. */
  text: string;
  /** Attachments that can hold a patch (text/x-patch, *.diff, text/plain attachments). */
  patchAttachments: string[];
  /** Some text part was format=flowed (RFC 3676) and has been unflowed. */
  flowed: boolean;
  /**
   * The text to split into commit message and patch when it differs from `text`: a
   * format=flowed body unflowed the way `git mailinfo` does it (what `git am` applies).
   */
  patchText?: string;
  warnings: MailWarning[];
}

const SIMPLE_PARSER_OPTIONS = {
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipImageLinks: true,
  skipTextLinks: true,
  checksumAlgo: false,
  keepCidLinks: true,
} as const;

/**
 * Decode the text of a message. A single-part text message (about 98.6 % of list mail)
 * is decoded here directly with libmime and libqp, the libraries mailparser itself
 * decodes with, because mailparser's stream machinery costs 1.5-2 ms per message; every
 * other structure (multipart, signed, attachments) goes through mailparser.
 */
export async function extractText(
  headers: HeaderMap,
  body: Buffer,
  limits: Pick<MailLimits, "maxMimeDepth" | "maxMimeParts"> = DEFAULT_MAIL_LIMITS,
): Promise<MessageText> {
  const type = parseStructured(headerValue(headers, "content-type"));
  const mediaType = type.value === "" ? "text/plain" : type.value;
  if (mediaType.startsWith("text/") && mediaType !== "text/html") {
    return decodeSinglePart(headers, body, type.params);
  }
  if (mediaType === "text/html") {
    return { text: "", patchAttachments: [], flowed: false, warnings: [] };
  }
  const refused = mimeOverLimit(headerValue(headers, "content-type") ?? "", body, limits);
  if (refused !== null) throw new Error(refused);
  return decodeWithMailparser(headers, body);
}

/** Why a multipart body is too deep or has too many parts for mailparser, or null. */
function mimeOverLimit(
  contentType: string,
  body: Buffer,
  limits: Pick<MailLimits, "maxMimeDepth" | "maxMimeParts">,
): string | null {
  const shape = mimeShape(contentType, body);
  if (shape.multiparts > limits.maxMimeDepth) {
    const what = `${shape.multiparts} multipart containers`;
    return overLimitReason("maxMimeDepth", what, limits.maxMimeDepth);
  }
  if (shape.parts > limits.maxMimeParts) {
    return overLimitReason("maxMimeParts", `${shape.parts} MIME parts`, limits.maxMimeParts);
  }
  return null;
}

function decodeSinglePart(
  headers: HeaderMap,
  body: Buffer,
  params: Record<string, string>,
): MessageText {
  const warnings: MailWarning[] = [];
  const encoding = (headerValue(headers, "content-transfer-encoding") ?? "").trim().toLowerCase();
  let bytes: Buffer;
  if (encoding === "base64") bytes = Buffer.from(body.toString("latin1"), "base64");
  else if (encoding === "quoted-printable") bytes = decodeQuotedPrintable(body);
  else {
    if (!["", "7bit", "8bit", "binary"].includes(encoding)) {
      warnings.push({
        kind: "decoding",
        detail: `unknown Content-Transfer-Encoding "${encoding}"`,
      });
    }
    bytes = body;
  }
  const flowed = (params.format ?? "").toLowerCase() === "flowed";
  const charset = params.charset ?? "us-ascii";
  const decoded = decodeCharset(bytes, charset, warnings);
  if (!flowed) return { text: lf(decoded), patchAttachments: [], flowed, warnings };
  const delSp = (params.delsp ?? "").toLowerCase() === "yes";
  return {
    text: lf(libmime.decodeFlowed(decoded, delSp)),
    patchText: unflowLikeMailinfo(lf(decoded), delSp),
    patchAttachments: [],
    flowed,
    warnings,
  };
}

const lf = (text: string): string => (text.includes("\r") ? text.replace(/\r\n/g, "\n") : text);

/**
 * Undo format=flowed as `git mailinfo` does (mailinfo.c handle_filter_flowed): the
 * `-- ` separator stays, one leading space is unstuffed, a line ending in a space is
 * joined with the next (dropping that space with DelSp=yes). Unlike RFC 3676 it knows
 * nothing of quote depth, so `git am` applies exactly this.
 */
export function unflowLikeMailinfo(text: string, delSp: boolean): string {
  const out: string[] = [];
  let prev = "";
  const lines = text.split("\n");
  const last = lines.length - 1;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] ?? "";
    // The piece after the last newline is not a line unless it has text.
    if (i === last && line === "") break;
    if (line === "-- ") {
      if (prev !== "") out.push(prev + "\n");
      prev = "";
      out.push(line + "\n");
      continue;
    }
    if (line.startsWith(" ")) line = line.slice(1);
    if (line.endsWith(" ")) {
      prev += delSp ? line.slice(0, -1) : line;
      continue;
    }
    out.push(prev + line + (i === last ? "" : "\n"));
    prev = "";
  }
  if (prev !== "") out.push(prev);
  return out.join("");
}

function decodeCharset(bytes: Buffer, charset: string, warnings: MailWarning[]): string {
  const name = charset.trim().toLowerCase();
  if (isUtf8Name(name)) {
    return bytes.toString("utf8");
  }
  if (!knownCharset(name)) {
    warnings.push({ kind: "bad-charset", detail: `unknown charset "${charset}", read as UTF-8` });
    return bytes.toString("utf8");
  }
  try {
    return decodeBytes(bytes, name);
  } catch (err) {
    warnings.push({ kind: "bad-charset", detail: `charset "${charset}": ${String(err)}` });
    return bytes.toString("utf8");
  }
}

const isUtf8Name = (name: string): boolean =>
  name === "us-ascii" || name === "utf-8" || name === "utf8" || name === "ascii";

const JAPANESE_CHARSET = /^jis|^iso-?2022-?jp|^eucjp/i;

/** libmime falls back to UTF-8 for a charset it does not know; we want to say so. */
function knownCharset(name: string): boolean {
  return JAPANESE_CHARSET.test(name) || iconv.encodingExists(libmime.normalizeCharset(name));
}

const PATCH_FILENAME = /\.(patch|diff)$/i;
const PATCH_TYPES = new Set([
  "text/x-patch",
  "text/x-diff",
  "text/patch",
  "text/diff",
  "text/x-patch-file",
  "application/x-patch",
  "application/x-diff",
]);

/** Attachments worth reading for a diff. HTML, images and archives never are. */
function isPatchAttachment(a: Attachment): boolean {
  const type = a.contentType.toLowerCase();
  if (PATCH_TYPES.has(type)) return true;
  if (type === "text/plain") return true;
  if (a.filename !== undefined && PATCH_FILENAME.test(a.filename)) {
    return type === "application/octet-stream" || type.startsWith("text/");
  }
  return false;
}

async function decodeWithMailparser(headers: HeaderMap, body: Buffer): Promise<MessageText> {
  // mailparser wants a whole message; give it the MIME headers it needs and the body.
  const mimeHeaders = ["content-type", "content-transfer-encoding", "mime-version"]
    .flatMap((name) => (headers.get(name) ?? []).map((v) => `${name}: ${v}`))
    .join("\r\n");
  const parsed = await simpleParser(
    Buffer.concat([Buffer.from(mimeHeaders + "\r\n\r\n", "utf8"), body]),
    SIMPLE_PARSER_OPTIONS,
  );
  const warnings: MailWarning[] = [];
  const patchAttachments: string[] = [];
  for (const a of parsed.attachments) {
    if (!isPatchAttachment(a)) continue;
    const charset = attachmentCharset(a) ?? "utf-8";
    patchAttachments.push(decodeCharset(a.content, charset, warnings).replace(/\r?\n/g, "\n"));
  }
  for (const charset of partCharsets(body)) {
    if (!isUtf8Name(charset) && !knownCharset(charset)) {
      warnings.push({ kind: "bad-charset", detail: `unknown charset "${charset}", read as UTF-8` });
    }
  }
  const text = typeof parsed.text === "string" ? parsed.text : "";
  return { text, patchAttachments, flowed: hasFlowedTextPart(body), warnings };
}

function attachmentCharset(a: Attachment): string | null {
  const ct = a.headers.get("content-type");
  if (ct !== undefined && typeof ct === "object" && "params" in ct) {
    const params = (ct as { params: Record<string, string> }).params;
    return params.charset ?? null;
  }
  return null;
}

/** The charsets named in the part headers of a multipart body. */
function partCharsets(body: Buffer): Set<string> {
  const names = new Set<string>();
  const re = /^content-type:[^\n]*(?:\n[ \t][^\n]*)*?charset\s*=\s*"?([^";\s]+)/gim;
  const text = body.toString("latin1");
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[1] !== undefined) names.add(m[1].toLowerCase());
  }
  return names;
}

/** A part header of the body declares format=flowed on a text/plain part. */
function hasFlowedTextPart(body: Buffer): boolean {
  const text = body.toString("latin1");
  const re = /^content-type:[ \t]*text\/plain((?:[^\n]*\n[ \t])*[^\n]*)/gim;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (/format\s*=\s*"?flowed/i.test(m[1] ?? "")) return true;
  }
  return false;
}
