import type { ParsedSubject } from "./types.js";

const REPLY_PREFIX = /^(re|aw|sv|antw|odp|r)\s*(\[\d+\])?\s*:\s*/i;
const FORWARD_PREFIX = /^(fwd?|wg|tr)\s*:\s*/i;
/** `PATCH1/8`, `PATCH 1/8:`, `PATCH v2 1/8` written without brackets. */
const BARE_PATCH = /^(patch|rfc)(\s*v(\d+))?\s*(\d+)\s*\/\s*(\d+)\s*:?\s*/i;

interface Tokens {
  isPatch: boolean;
  isRfc: boolean;
  isResend: boolean;
  isPull: boolean;
  version: number | null;
  minorVersion: number | null;
  index: number | null;
  total: number | null;
  tags: string[];
}

/**
 * Read what a subject line says: reply/forward prefixes, the bracket tags of a patch
 * (`[RFC PATCH v2 3/5]`, `[PATCH net-next]`, `[GIT PULL]`), and the `stem`.
 *
 * The stem is the subject with every prefix and leading bracket group removed and
 * whitespace folded. It keeps its case: authors rarely change case between revisions,
 * and when they do the change is deliberate; code that links revisions compares stems
 * case-insensitively itself if it wants to.
 */
export function parseSubject(subject: string): ParsedSubject {
  const raw = subject.replace(/\s+/g, " ").trim();
  const t: Tokens = {
    isPatch: false,
    isRfc: false,
    isResend: false,
    isPull: false,
    version: null,
    minorVersion: null,
    index: null,
    total: null,
    tags: [],
  };
  let isReply = false;
  let isForward = false;
  let rest = raw;
  for (;;) {
    const reply = REPLY_PREFIX.exec(rest);
    if (reply) {
      isReply = true;
      rest = rest.slice(reply[0].length);
      continue;
    }
    const fwd = FORWARD_PREFIX.exec(rest);
    if (fwd) {
      isForward = true;
      rest = rest.slice(fwd[0].length);
      continue;
    }
    if (rest.startsWith("[")) {
      const close = rest.indexOf("]");
      if (close < 0) break;
      readTags(rest.slice(1, close), t);
      // `[Patch 2/2]: subject` has a colon after the bracket.
      rest = rest.slice(close + 1).replace(/^[\s:]+/, "");
      continue;
    }
    const bare = BARE_PATCH.exec(rest);
    if (bare) {
      if (/^rfc$/i.test(bare[1] ?? "")) t.isRfc = true;
      t.isPatch = true;
      if (bare[3] !== undefined) t.version ??= Number(bare[3]);
      t.index ??= Number(bare[4]);
      t.total ??= Number(bare[5]);
      rest = rest.slice(bare[0].length);
      continue;
    }
    break;
  }
  return {
    raw,
    isReply,
    isForward,
    isPatch: t.isPatch,
    isRfc: t.isRfc,
    isResend: t.isResend,
    isPull: t.isPull,
    version: t.version ?? 1,
    ...(t.minorVersion === null ? {} : { minorVersion: t.minorVersion }),
    index: t.index,
    total: t.total,
    tags: t.tags,
    stem: rest.replace(/\s+/g, " ").trim(),
  };
}

/** Read the words of one bracket group (`RFC PATCH v2 3/5`, `PATCHv3`, `GIT PULL`). */
function readTags(group: string, t: Tokens): void {
  // `(RESEND)` counts as RESEND.
  const words = group
    .split(/[\s,]+/)
    .map((w) => w.replace(/^\((.*)\)$/, "$1"))
    .filter((w) => w !== "");
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? "";
    const lower = word.toLowerCase();
    if (lower === "git" && words[i + 1]?.toLowerCase() === "pull") {
      t.isPull = true;
      i++;
      continue;
    }
    // `[GIT PULL]`, `[PULL]`, and Linus' `[GIT] Networking`.
    if (lower === "pull" || (lower === "git" && words.length === 1)) {
      t.isPull = true;
      continue;
    }
    // Mercurial's `[PATCH 1 of 2]`.
    if (
      /^\d+$/.test(word) &&
      words[i + 1]?.toLowerCase() === "of" &&
      /^\d+$/.test(words[i + 2] ?? "")
    ) {
      t.index ??= Number(word);
      t.total ??= Number(words[i + 2]);
      i += 2;
      continue;
    }
    // PATCH, PATCHv2, PATCH-v2, RFCv3, RFC-PATCH, PATCH/RFC and the like.
    const compound = /^(patch|rfc|resend)(?:[-_/]?(patch|rfc|resend))?(?:[-_]?v(\d+))?$/i.exec(
      word,
    );
    if (compound) {
      for (const part of [compound[1], compound[2]]) {
        const p = part?.toLowerCase();
        if (p === "patch") t.isPatch = true;
        if (p === "rfc") {
          t.isRfc = true;
          t.isPatch = true;
        }
        if (p === "resend") t.isResend = true;
      }
      if (compound[3] !== undefined) t.version ??= Number(compound[3]);
      continue;
    }
    // `PATCH-next`, `PATCH-net-next`: a patch for that tree; the tree is a tag.
    const forTree = /^(patch|rfc)[-_/]([a-z][\w.-]*)$/i.exec(word);
    if (forTree?.[2]) {
      t.isPatch = true;
      if (forTree[1]?.toLowerCase() === "rfc") t.isRfc = true;
      t.tags.push(forTree[2]);
      continue;
    }
    // `v2.5`: a fractional re-roll of v2 (b4 reads it as v2 too).
    const version = /^v(\d+)(?:\.(\d+))?$/i.exec(word);
    if (version) {
      if (t.version === null && version[2] !== undefined) t.minorVersion = Number(version[2]);
      t.version ??= Number(version[1]);
      continue;
    }
    const counter = /^(\d+)\/(\d+)$/.exec(word);
    if (counter) {
      t.index ??= Number(counter[1]);
      t.total ??= Number(counter[2]);
      continue;
    }
    t.tags.push(word);
  }
}
