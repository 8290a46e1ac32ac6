import { DEFAULT_MAIL_LIMITS } from "../mail/limits.js";
import type { MailMessage, Person, Trailer } from "../mail/types.js";
import { DEFAULT_RELEVANT_PATTERNS, isRelevant } from "./relevance.js";
import { stringPool, summarizeMail, type SeriesMail } from "./summary.js";
import { buildThreads, type ThreadLimitError, type ThreadNode } from "./threads.js";
import type { BotMailEntry, Series, SeriesPatch } from "./types.js";
import { KNOWN_BOT_ADDRESSES, knownBot } from "../mail/bots.js";

export interface AssembleOptions {
  /** Paths that make a patch relevant (see `isRelevant`). */
  relevantPatterns?: readonly string[];
  /**
   * An unthreaded patch joins an earlier unthreaded series of the same author, version and
   * total only if it arrived at most this many mails after that series' last mail.
   */
  arrivalWindow?: number;
  /**
   * ... and, unless it arrived right behind it (within `total + 20` mails), only if their
   * Date headers are at most this far apart.
   */
  dateWindowMs?: number;
  /** Addresses whose replies never give review trailers, besides mails marked automated. */
  botAddresses?: readonly string[];
  /** Thread depth and fan-out limits (see `buildThreads`). */
  maxThreadDepth?: number;
  maxThreadFanOut?: number;
  /** Called for each message a thread limit kept out of its thread. */
  onLimit?: (error: ThreadLimitError) => void;
  /** Other revisions listed per series (the newest of them). */
  maxRevisionsListed?: number;
}

/**
 * Robots that answer patches with text that looks like trailers ("Reported-by: ..."): the
 * known bots of src/mail/bots.ts, the one list.
 */
export const DEFAULT_BOT_ADDRESSES: readonly string[] = KNOWN_BOT_ADDRESSES;

type Kind = "cover" | "patch" | "pull" | "bot" | "other";

function kindOf(mail: SeriesMail): Kind {
  const s = mail.subject;
  if (s.isReply || s.isForward) return "other";
  if (mail.botMail && (s.index !== null || mail.hasDiff)) return "bot";
  if (s.isPull) return "pull";
  if (s.index === 0 && s.total !== null && s.total > 0) return "cover";
  if (s.index !== null && s.index > 0 && (s.isPatch || mail.hasDiff)) return "patch";
  if (s.index === null && mail.hasDiff) return "patch";
  return "other";
}

interface Draft {
  order: number;
  version: number;
  /** `5` of `v2.5`; 0 for a whole version. Orders postings that share a version. */
  minor: number;
  total: number;
  author: Person;
  cover: SeriesMail | null;
  patches: Map<number, SeriesMail>;
  firstSeq: number;
  lastSeq: number;
  lastDate: number | null;
  /** Started by a mail without any parent: later unthreaded patches may join it. */
  rootLevel: boolean;
  /** A partial re-roll: missing patches come from this earlier version. */
  rerollOf: Draft | null;
  /** The Message-ID at the root of the thread it started in. */
  thread: string;
  dropped: boolean;
}

const emailOf = (person: Person): string => person.email.toLowerCase();

function newDraft(mail: SeriesMail, order: number, rootLevel: boolean, thread: string): Draft {
  const s = mail.subject;
  return {
    order,
    version: s.version,
    minor: s.minorVersion ?? 0,
    total: s.total ?? 1,
    author: mail.author,
    cover: null,
    patches: new Map(),
    firstSeq: mail.seq,
    lastSeq: mail.seq,
    lastDate: mail.date?.getTime() ?? null,
    rootLevel,
    rerollOf: null,
    thread,
    dropped: false,
  };
}

function addToDraft(draft: Draft, mail: SeriesMail): void {
  if (mail.subject.index === 0) draft.cover = mail;
  else draft.patches.set(mail.subject.index ?? 1, mail);
  draft.firstSeq = Math.min(draft.firstSeq, mail.seq);
  if (mail.seq >= draft.lastSeq) {
    draft.lastSeq = mail.seq;
    draft.lastDate = mail.date?.getTime() ?? draft.lastDate;
  }
}

/** A patch may join a series of the same total and version; an unversioned patch under a
 * versioned cover letter ("[PATCH v3 0/4]" then "[PATCH 1/4]") takes the cover's version. */
function fits(draft: Draft, mail: SeriesMail): boolean {
  const s = mail.subject;
  if (draft.total !== (s.total ?? 1) || draft.patches.has(s.index ?? 1)) return false;
  return draft.version === s.version || (s.version === 1 && draft.cover !== null);
}

/**
 * A cover letter's author is who wrote it (its in-body From, if any, else its sender); a
 * series without one is its first patch's git author.
 */
function gitAuthorOf(draft: Draft, patches: SeriesPatch[], sender: Person): Person {
  if (draft.cover) return draft.cover.gitAuthor ?? sender;
  return patches[0]?.author ?? sender;
}

const STABLE_TAG = /^(autosel|\d+\.\d+(\.\d+|\.y)?)$|^(autosel|stable) /i;

function normalizedStem(stem: string): string {
  return stem.toLowerCase().replace(/\s+/g, " ").trim();
}

/**
 * A subject as revisions compare it: case, spacing and punctuation do not count, so small
 * edits between revisions ("work-around" then "workaround", "KVM/arm64:" then "KVM: arm64:",
 * "{break,watch}" then "{break, watch}") keep one family.
 */
function familyStem(stem: string): string {
  return stem.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "");
}

/**
 * What one posting's mails share in their subject prefix: "[RESEND PATCH v5 …]",
 * "[PATCH-next v5 …]" and "[PATCH v5 …]" are three postings of one version.
 */
function prefixKey(mail: SeriesMail): string {
  const s = mail.subject;
  const tags = s.tags.map((t) => t.toLowerCase()).sort();
  return [s.isRfc ? "rfc" : "", s.isResend ? "resend" : "", ...tags].join(" ");
}

/**
 * The Message-ID without its mail number: one posting's mails share it, as git send-email
 * (`<stamp>-<n>-<sender>`, the cover letter 1) and b4 (`<date>-<topic>-v<N>-<n>-<hash>`)
 * number them. Null when the id carries no such number.
 */
function postingStamp(mail: SeriesMail): string | null {
  const id = mail.messageId;
  const last = [...id.matchAll(/-\d+-/g)].pop();
  if (last?.index === undefined) return null;
  return `${id.slice(0, last.index)}-*-${id.slice(last.index + last[0].length)}`;
}

/**
 * How surely a patch below a cover letter is of that cover's posting: 2 for its Message-ID
 * stamp, 1 for its subject prefix. A series sent in chunks has a stamp per chunk, so only
 * the prefix may hold for some of its patches.
 */
function postingRank(cover: SeriesMail, mail: SeriesMail): number {
  const stamp = postingStamp(cover);
  return (
    (stamp !== null && postingStamp(mail) === stamp ? 2 : 0) +
    (prefixKey(mail) === prefixKey(cover) ? 1 : 0)
  );
}

/** Words of subjects that say nothing about which series they are. */
const GENERIC_WORDS = new Set(
  (
    "a an the of for and in some few small minor misc miscellaneous assorted various more " +
    "fix fixes fixup fixups typo typos comment comments spelling cleanup cleanups clean up " +
    "update updates improvement improvements tweak tweaks build compile warning warnings " +
    "error errors doc docs documentation"
  ).split(" "),
);

/**
 * "KVM: arm64: Fix comment typo", "Misc fixes": a subject, after its subsystem prefixes,
 * made only of words that could name any series. Two series of one sender with such a
 * subject are revisions only when they touch a file in common.
 */
function isGenericStem(stem: string): boolean {
  const core = stem.slice(stem.lastIndexOf(": ") + 1).toLowerCase();
  const words = core.split(/[^a-z0-9]+/).filter((w) => w !== "");
  return words.length > 0 && words.every((w) => GENERIC_WORDS.has(w));
}

/** Trailers given by a reply count only when the reply's real author gave them (DMARC-aware). */
function trailerIsOwn(trailer: Trailer, author: Person): boolean {
  if (!trailer.person) return true;
  if (trailer.person.email.toLowerCase() === emailOf(author)) return true;
  const name = trailer.person.name.trim().toLowerCase();
  return name.length > 0 && name === author.name.trim().toLowerCase();
}

const trailerKey = (t: Trailer): string =>
  `${t.name.toLowerCase()}\0${(t.person?.email ?? t.value).toLowerCase()}`;

/**
 * Trailers, one per name and person; a named form beats a bare address. Indexed by key, so
 * thousands of replies cost their number, not its square.
 */
class TrailerList {
  readonly items: Trailer[] = [];
  private readonly at = new Map<string, number>();

  add(more: readonly Trailer[]): void {
    for (const t of more) {
      const key = trailerKey(t);
      const at = this.at.get(key);
      if (at === undefined) {
        this.at.set(key, this.items.length);
        this.items.push(t);
      } else if (!this.items[at]?.person?.name && t.person?.name) this.items[at] = t;
    }
  }
}

/**
 * Series from mails in arrival order. Keeps only summaries (`SeriesMail`), so a whole list
 * archive can be fed through `add` one message at a time; `finish` threads and groups them.
 */
export class SeriesAssembler {
  private readonly mails = new Map<string, SeriesMail>();
  private seq = 0;
  private readonly keep = stringPool();

  constructor(private readonly options: AssembleOptions = {}) {}

  /** Number of distinct Message-IDs seen so far. */
  get size(): number {
    return this.mails.size;
  }

  add(message: MailMessage): void {
    this.addSummary(summarizeMail(message, 0, this.keep));
  }

  /** Same as `add` for a mail already summarized (its `seq` is replaced by arrival order). */
  addSummary(summary: SeriesMail): void {
    const mail = { ...summary, seq: this.seq++ };
    const earlier = this.mails.get(mail.messageId);
    // Cross-posted copies share the Message-ID: one message, the better parsed copy, first arrival.
    if (!earlier) this.mails.set(mail.messageId, mail);
    else if (mail.parseScore > earlier.parseScore) {
      this.mails.set(mail.messageId, { ...mail, seq: earlier.seq });
    }
  }

  finish(): Series[] {
    return assembleFromSummaries([...this.mails.values()], this.options);
  }

  /** The mails with a diff that programs sent, kept out of `finish`'s series. */
  botMail(): BotMailEntry[] {
    return botMailOf(this.mails.values(), this.options);
  }
}

/** The mails that would have been patches or cover letters had a person sent them. */
export function botMailOf(
  mails: Iterable<SeriesMail>,
  options: Pick<AssembleOptions, "relevantPatterns"> = {},
): BotMailEntry[] {
  const patterns = options.relevantPatterns ?? DEFAULT_RELEVANT_PATTERNS;
  const out: { seq: number; entry: BotMailEntry }[] = [];
  for (const mail of mails) {
    if (!mail.botMail || kindOf(mail) !== "bot") continue;
    out.push({
      seq: mail.seq,
      entry: {
        messageId: mail.messageId,
        subject: mail.subject.raw,
        sender: mail.author,
        date: mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date.toISOString() : null,
        kind: mail.botMail.kind,
        reason: mail.botMail.reason,
        relevant: mail.files.some((f) => isRelevant(f, patterns)),
      },
    });
  }
  return out.sort((a, b) => a.seq - b.seq).map((o) => o.entry);
}

/** Group parsed mails into series (cover letter + patches), link revisions, gather trailers. */
export function assembleSeries(
  messages: Iterable<MailMessage>,
  options: AssembleOptions = {},
): Series[] {
  const assembler = new SeriesAssembler(options);
  for (const message of messages) assembler.add(message);
  return assembler.finish();
}

/**
 * The earliest arrival in each subtree. Iterative: threads are as deep as senders make them
 * (a 50,000-reply chain overflowed the stack when this recursed).
 */
function minSeqs(roots: ThreadNode<SeriesMail>[]): Map<ThreadNode<SeriesMail>, number> {
  const memo = new Map<ThreadNode<SeriesMail>, number>();
  const stack: { node: ThreadNode<SeriesMail>; expanded: boolean }[] = roots.map((node) => ({
    node,
    expanded: false,
  }));
  while (stack.length > 0) {
    const top = stack.pop();
    if (!top) break;
    const { node } = top;
    if (!top.expanded) {
      stack.push({ node, expanded: true });
      for (const child of node.children) stack.push({ node: child, expanded: false });
      continue;
    }
    let min = node.message?.seq ?? Number.POSITIVE_INFINITY;
    for (const child of node.children) min = Math.min(min, memo.get(child) ?? min);
    memo.set(node, min);
  }
  return memo;
}

/** Parents before children; siblings and threads in arrival order. */
function* inThreadOrder(roots: ThreadNode<SeriesMail>[]): Generator<ThreadNode<SeriesMail>> {
  const memo = minSeqs(roots);
  const minSeqOf = (node: ThreadNode<SeriesMail>): number =>
    memo.get(node) ?? Number.POSITIVE_INFINITY;
  const byArrival = (a: ThreadNode<SeriesMail>, b: ThreadNode<SeriesMail>): number =>
    minSeqOf(a) - minSeqOf(b);
  const stack = [...roots].sort(byArrival).reverse();
  while (stack.length > 0) {
    const node = stack.pop();
    if (!node) break;
    yield node;
    stack.push(...[...node.children].sort(byArrival).reverse());
  }
}

export function assembleFromSummaries(
  mails: readonly SeriesMail[],
  options: AssembleOptions = {},
): Series[] {
  const patterns = options.relevantPatterns ?? DEFAULT_RELEVANT_PATTERNS;
  const arrivalWindow = options.arrivalWindow ?? 200;
  const dateWindowMs = options.dateWindowMs ?? 2 * 60 * 60 * 1000;
  const maxRevisionsListed = options.maxRevisionsListed ?? DEFAULT_MAIL_LIMITS.maxRevisionsListed;
  const bots = new Set((options.botAddresses ?? DEFAULT_BOT_ADDRESSES).map((a) => a.toLowerCase()));

  const roots = buildThreads(mails, {
    parseScore: (m) => m.parseScore,
    ...(options.maxThreadDepth === undefined ? {} : { maxDepth: options.maxThreadDepth }),
    ...(options.maxThreadFanOut === undefined ? {} : { maxFanOut: options.maxThreadFanOut }),
    ...(options.onLimit === undefined ? {} : { onLimit: options.onLimit }),
  });
  const drafts: Draft[] = [];
  const draftOf = new Map<string, Draft>();
  /** Drafts of one key, and per patch number the first draft that may still lack it. */
  const groups = new Map<string, { list: Draft[]; firstFree: Map<number, number> }>();
  /** Root-level drafts by the arrival of their last mail (unique: a mail is in one draft). */
  const rootDraftAt = new Map<number, Draft>();
  const replies: ThreadNode<SeriesMail>[] = [];
  /** For each node seen, the nearest node at or above it that is in a draft. */
  const draftAbove = new Map<ThreadNode<SeriesMail>, ThreadNode<SeriesMail> | null>();

  let thread = "";
  const start = (mail: SeriesMail, rootLevel: boolean): Draft => {
    const draft = newDraft(mail, drafts.length, rootLevel, thread);
    drafts.push(draft);
    if (rootLevel) rootDraftAt.set(draft.lastSeq, draft);
    return draft;
  };
  const join = (draft: Draft, mail: SeriesMail): void => {
    const lastSeq = draft.lastSeq;
    addToDraft(draft, mail);
    if (draft.rootLevel && draft.lastSeq !== lastSeq) {
      if (rootDraftAt.get(lastSeq) === draft) rootDraftAt.delete(lastSeq);
      rootDraftAt.set(draft.lastSeq, draft);
    }
    draftOf.set(mail.messageId, draft);
  };
  const joinGroup = (key: string, mail: SeriesMail, make: () => Draft): void => {
    const group = groups.get(key) ?? { list: [], firstFree: new Map<number, number>() };
    groups.set(key, group);
    // A draft that does not fit a patch number never will (drafts only gain patches), so
    // the search for that number resumes where the last one stopped.
    const index = mail.subject.index ?? 1;
    let at = group.firstFree.get(index) ?? 0;
    while (at < group.list.length && !fits(group.list[at] as Draft, mail)) at++;
    group.firstFree.set(index, at);
    let draft = group.list[at];
    if (!draft) {
      draft = make();
      group.list.push(draft);
    }
    join(draft, mail);
  };

  const placeUnthreaded = (mail: SeriesMail): void => {
    const total = mail.subject.total ?? 1;
    const date = mail.date?.getTime() ?? null;
    let best: Draft | null = null;
    // Only drafts whose last mail arrived within the window can take it: look those up by
    // arrival instead of walking every draft (thousands of unthreaded patches were quadratic).
    for (let seq = mail.seq - arrivalWindow; seq <= mail.seq + arrivalWindow; seq++) {
      const d = rootDraftAt.get(seq);
      if (!d) continue;
      const distance = Math.abs(mail.seq - d.lastSeq);
      if (distance > arrivalWindow) continue;
      if (emailOf(d.author) !== emailOf(mail.author) || d.version !== mail.subject.version)
        continue;
      if (!fits(d, mail)) continue;
      const closeByDate =
        date !== null && d.lastDate !== null && Math.abs(date - d.lastDate) <= dateWindowMs;
      if (distance > total + 20 && !closeByDate) continue;
      // The nearest; of two as near, the later started (as walking newest first found it).
      const bestDistance = best ? Math.abs(mail.seq - best.lastSeq) : Infinity;
      if (!best || bestDistance > distance || (bestDistance === distance && d.order > best.order))
        best = d;
    }
    join(best ?? start(mail, true), mail);
  };

  const placePatch = (node: ThreadNode<SeriesMail>, mail: SeriesMail): void => {
    const s = mail.subject;
    if (s.index === null || (s.total ?? 1) <= 1) {
      join(start(mail, node.parent === null), mail);
      return;
    }
    const stop = node.parent ? (draftAbove.get(node.parent) ?? null) : null;
    const above = stop ? draftOf.get(stop.messageId) : undefined;
    const cover = node.parent ? coverAbove.get(node.parent) : undefined;
    // Another posting of the version (a resend into the original's thread) under the cover:
    // a patch of that number below it is more surely the cover's own.
    const foreign =
      above?.cover != null &&
      cover?.messageId === above.cover.messageId &&
      (bestBelow.get(cover.messageId)?.get(s.index) ?? 0) > postingRank(above.cover, mail);
    if (above && !foreign && fits(above, mail)) {
      join(above, mail);
      return;
    }
    if (
      !foreign &&
      above?.cover &&
      stop?.messageId === above.cover.messageId &&
      above.patches.size === 0 &&
      emailOf(above.author) === emailOf(mail.author) &&
      (above.version === s.version || s.version === 1)
    ) {
      // "[PATCH v2 1/6]".."6/6" sent in reply to "[PATCH v2 0/5]": the cover letter miscounted
      // its own patches, which b4 pairs with it too. The patches say how many there are.
      above.total = s.total ?? above.total;
      join(above, mail);
      return;
    }
    if (
      above &&
      s.minorVersion !== undefined &&
      above.version === s.version &&
      above.total === s.total
    ) {
      // "[PATCH v1.1 11/21]" under v1: a fractional re-roll replaces that patch of v1, as b4
      // stitches a partial re-roll; it is not a new series of one patch.
      join(above, mail);
      return;
    }
    if (!node.parent) {
      placeUnthreaded(mail);
      return;
    }
    const who = `${emailOf(mail.author)}\0${s.version}\0${s.total}`;
    const upper = stop?.message?.subject;
    if (
      above &&
      upper &&
      above.version < s.version &&
      above.total === s.total &&
      upper.index === s.index
    ) {
      // "[PATCH v2 3/5]" in reply to "[PATCH 3/5]": a partial re-roll of the series above.
      joinGroup(`reroll\0${above.order}\0${who}`, mail, () => {
        const draft = start(mail, false);
        draft.rerollOf = above;
        return draft;
      });
      return;
    }
    const posting = foreign ? `\0${postingStamp(mail) ?? prefixKey(mail)}` : "";
    joinGroup(`under\0${node.parent.messageId}\0${who}${posting}`, mail, () => start(mail, false));
  };

  // Which cover letter each mail is threaded below, and per cover and patch number how
  // surely a patch below it is the cover's own, before any patch is placed: the first patch
  // to arrive may be a resend's.
  const order = [...inThreadOrder(roots)];
  const coverAbove = new Map<ThreadNode<SeriesMail>, ThreadNode<SeriesMail> | null>();
  const bestBelow = new Map<string, Map<number, number>>();
  for (const node of order) {
    const mail = node.message;
    const kind = mail ? kindOf(mail) : "other";
    const up = node.parent ? (coverAbove.get(node.parent) ?? null) : null;
    coverAbove.set(node, kind === "cover" ? node : up);
    if (kind !== "patch" || !up?.message || !mail || mail.subject.index === null) continue;
    const best = bestBelow.get(up.messageId) ?? new Map<number, number>();
    bestBelow.set(up.messageId, best);
    const rank = postingRank(up.message, mail);
    best.set(mail.subject.index, Math.max(best.get(mail.subject.index) ?? 0, rank));
  }

  for (const node of order) {
    if (!node.parent) thread = node.messageId;
    const mail = node.message;
    if (mail) {
      const kind = kindOf(mail);
      if (kind === "cover") join(start(mail, node.parent === null), mail);
      else if (kind === "patch") placePatch(node, mail);
      else if (mail.replyTrailers.length > 0) replies.push(node);
    }
    // Parents come first, so the answer for the parent is known and final.
    const inherited = node.parent ? (draftAbove.get(node.parent) ?? null) : null;
    draftAbove.set(node, draftOf.has(node.messageId) ? node : inherited);
  }

  // A cover letter nothing was threaded to: sent twice (keep the one with patches), or the
  // cover of patches that were not threaded to it (unthreaded, or all sent in reply to
  // something else) and arrived right next to it.
  const movedTo = new Map<string, string>();
  // Only drafts with patches can take a cover letter, and only of the same author and total.
  const hostsBy = new Map<string, Draft[]>();
  const hostKey = (d: Draft): string => `${emailOf(d.author)}\0${d.total}`;
  for (const d of drafts) {
    if (d.patches.size === 0) continue;
    const list = hostsBy.get(hostKey(d)) ?? [];
    list.push(d);
    hostsBy.set(hostKey(d), list);
  }
  for (const draft of drafts) {
    if (!draft.cover || draft.patches.size > 0) continue;
    const cover = draft.cover;
    const stem = normalizedStem(cover.subject.stem);
    const candidates = hostsBy.get(hostKey(draft)) ?? [];
    const twin = candidates.find(
      (d) =>
        d !== draft &&
        !d.dropped &&
        d.cover !== null &&
        d.patches.size > 0 &&
        emailOf(d.author) === emailOf(draft.author) &&
        d.version === draft.version &&
        d.total === draft.total &&
        normalizedStem(d.cover.subject.stem) === stem &&
        // A cover letter sent twice has one prefix; a RESEND or a tree-tagged copy is
        // another posting, whose cover is its own.
        prefixKey(d.cover) === prefixKey(cover),
    );
    // Patches of the cover's own posting (its Message-ID stamp), threaded somewhere else.
    const stamp = postingStamp(cover);
    const sibling = candidates.find(
      (d) =>
        d !== draft &&
        !d.dropped &&
        d.cover === null &&
        stamp !== null &&
        (d.version === draft.version || draft.version === 1) &&
        [...d.patches.values()].every((p) => postingStamp(p) === stamp),
    );
    const host =
      sibling ??
      twin ??
      candidates.find(
        (d) =>
          d !== draft &&
          !d.dropped &&
          (d.rootLevel ? draft.rootLevel : d.thread === draft.thread) &&
          d.cover === null &&
          d.patches.size > 0 &&
          emailOf(d.author) === emailOf(draft.author) &&
          d.total === draft.total &&
          Math.abs(d.firstSeq - cover.seq) <= draft.total + 20 &&
          (d.version === draft.version ||
            // "[PATCH 00/15]" answered by "[PATCH v2 01/15]".."15/15": a cover missing its vN.
            (draft.version === 1 &&
              [...d.patches.values()].every((p) => p.inReplyTo === cover.messageId))),
      );
    if (!host) continue;
    draft.dropped = true;
    if (host === twin && host.cover) {
      movedTo.set(cover.messageId, host.cover.messageId);
    } else {
      host.cover = cover;
      host.firstSeq = Math.min(host.firstSeq, cover.seq);
    }
    draftOf.set(cover.messageId, host);
  }

  // Review trailers from replies, attached to the nearest patch or cover letter above.
  const given = new Map<string, TrailerList>();
  const givenTo = (id: string): readonly Trailer[] => given.get(id)?.items ?? [];
  for (const node of replies) {
    const reply = node.message;
    if (!reply || reply.automated || bots.has(emailOf(reply.author)) || knownBot(reply.author))
      continue;
    const own = reply.replyTrailers.filter((t) => trailerIsOwn(t, reply.author));
    if (own.length === 0) continue;
    const at = node.parent ? draftAbove.get(node.parent) : null;
    if (!at) continue;
    const target = movedTo.get(at.messageId) ?? at.messageId;
    const list = given.get(target) ?? new TrailerList();
    list.add(own);
    given.set(target, list);
  }

  const live = drafts.filter((d) => !d.dropped);
  const effective = new Map<Draft, Map<number, SeriesMail>>();
  /** The drafts a partial re-roll borrows from, nearest last; walked, not recursed. */
  const rerollChain = (draft: Draft, stopAt: (d: Draft) => boolean): Draft[] => {
    const chain: Draft[] = [];
    for (let at: Draft | null = draft; at && !stopAt(at); at = at.rerollOf) chain.push(at);
    return chain;
  };
  const effectiveOf = (draft: Draft): Map<number, SeriesMail> => {
    const pending = rerollChain(draft, (d) => effective.has(d));
    for (let i = pending.length - 1; i >= 0; i--) {
      const d = pending[i] as Draft;
      const patches = new Map(d.patches);
      const borrowed = d.rerollOf && !d.cover ? effective.get(d.rerollOf) : undefined;
      for (const [index, mail] of borrowed ?? []) {
        if (index <= d.total && !patches.has(index)) patches.set(index, mail);
      }
      effective.set(d, patches);
    }
    return effective.get(draft) ?? new Map<number, SeriesMail>();
  };

  const subjects = new Map<Draft, string>();
  const subjectOf = (draft: Draft): string => {
    const pending = rerollChain(draft, (d) => subjects.has(d));
    for (let i = pending.length - 1; i >= 0; i--) {
      const d = pending[i] as Draft;
      const first = [...d.patches.entries()].sort((a, b) => a[0] - b[0])[0];
      const own = d.cover?.subject.stem ?? (d.rerollOf ? undefined : first?.[1].subject.stem);
      subjects.set(d, own ?? (d.rerollOf ? (subjects.get(d.rerollOf) ?? "") : ""));
    }
    return subjects.get(draft) ?? "";
  };
  const idOf = (draft: Draft): string => {
    if (draft.cover) return draft.cover.messageId;
    const first = [...draft.patches.entries()].sort((a, b) => a[0] - b[0])[0];
    return first?.[1].messageId ?? "";
  };

  // Revisions: same author and change-id, or same author and subject stem.
  const parent = new Map<Draft, Draft>();
  const find = (d: Draft): Draft => {
    let root = d;
    while (parent.get(root) && parent.get(root) !== root) root = parent.get(root) ?? root;
    parent.set(d, root);
    return root;
  };
  const keyOwner = new Map<string, Draft>();
  /**
   * Per generic subject key, the first draft that touched each file: a draft links to those
   * of its files, so a file in common links two drafts without comparing every pair.
   */
  const genericByFile = new Map<string, Map<string, Draft>>();
  for (const draft of live) {
    parent.set(draft, draft);
    const who = emailOf(draft.author);
    // Backports of one patch to several stable trees ("[PATCH AUTOSEL 5.4 ...]") are not
    // revisions of each other: the tree is part of the subject key.
    const head = draft.cover ?? [...draft.patches.values()][0];
    const trees = (head?.subject.tags ?? []).filter((t) => STABLE_TAG.test(t)).sort();
    const subject = subjectOf(draft);
    const subjectKey = `s\0${who}\0${trees.join(",")}\0${familyStem(subject)}`;
    const keys: string[] = [];
    if (isGenericStem(subject)) {
      const byFile = genericByFile.get(subjectKey) ?? new Map<string, Draft>();
      genericByFile.set(subjectKey, byFile);
      for (const file of new Set([...draft.patches.values()].flatMap((m) => m.files))) {
        const other = byFile.get(file);
        if (other) parent.set(find(draft), find(other));
        else byFile.set(file, draft);
      }
    } else keys.push(subjectKey);
    const changeId =
      draft.cover?.changeId ?? [...draft.patches.values()].find((m) => m.changeId)?.changeId;
    if (changeId) keys.push(`c\0${who}\0${changeId}`);
    keys.push(`d\0${draft.order}`);
    if (draft.rerollOf) keys.push(`d\0${draft.rerollOf.order}`);
    for (const key of keys) {
      const owner = keyOwner.get(key);
      if (owner) parent.set(find(draft), find(owner));
      else keyOwner.set(key, draft);
    }
  }
  // A series without cover letter is also a revision of one with a cover whose patch 1 has
  // its subject (v1 sent bare, v2 with a cover). Covered series do not link to each other
  // this way: two cover letters with different subjects are different series.
  const firstPatchKey = (draft: Draft): string | null => {
    const first = effectiveOf(draft).get(1);
    return first && draft.total > 1
      ? `p\0${emailOf(draft.author)}\0${familyStem(first.subject.stem)}`
      : null;
  };
  const coveredByFirstPatch = new Map<string, Draft>();
  for (const draft of live) {
    const key = draft.cover ? firstPatchKey(draft) : null;
    if (key && !coveredByFirstPatch.has(key)) coveredByFirstPatch.set(key, draft);
  }
  for (const draft of live) {
    const key = draft.cover ? null : firstPatchKey(draft);
    const covered = key ? coveredByFirstPatch.get(key) : undefined;
    if (covered) parent.set(find(draft), find(covered));
  }
  const families = new Map<Draft, Draft[]>();
  for (const draft of live) {
    const root = find(draft);
    const family = families.get(root) ?? [];
    family.push(draft);
    families.set(root, family);
  }
  const byAge = (a: Draft, b: Draft): number =>
    a.version - b.version || a.minor - b.minor || a.firstSeq - b.firstSeq;
  for (const family of families.values()) family.sort(byAge);

  const result: { draft: Draft; series: Series }[] = [];
  for (const draft of live) {
    const family = families.get(find(draft)) ?? [draft];
    const coverTrailers = draft.cover ? givenTo(draft.cover.messageId) : [];
    const patches: SeriesPatch[] = [...effectiveOf(draft).entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([index, mail]) => {
        const trailers = new TrailerList();
        trailers.add(mail.trailers);
        trailers.add(givenTo(mail.messageId));
        trailers.add(coverTrailers);
        const home = draftOf.get(mail.messageId);
        if (home && home !== draft && home.cover) trailers.add(givenTo(home.cover.messageId));
        return {
          index,
          messageId: mail.messageId,
          subject: mail.subject.raw,
          author: mail.gitAuthor ?? mail.author,
          files: mail.files,
          relevant: mail.files.some((f) => isRelevant(f, patterns)),
          trailers: trailers.items,
        };
      });
    const own = [draft.cover, ...draft.patches.values()].filter((m): m is SeriesMail => m !== null);
    const sender = (draft.cover ?? own[0])?.author ?? draft.author;
    const dates = own
      .map((m) => m.date?.getTime())
      .filter((t): t is number => t !== undefined && !Number.isNaN(t));
    // Counted, not looped up to: `total` is whatever the subject said.
    const present = new Set(patches.map((p) => p.index).filter((i) => i >= 1 && i <= draft.total));
    const complete = draft.total > 0 && present.size === draft.total;
    result.push({
      draft,
      series: {
        id: idOf(draft),
        subject: subjectOf(draft),
        version: draft.version,
        total: draft.total,
        author: gitAuthorOf(draft, patches, sender),
        sender,
        date:
          dates.length > 0 ? new Date(dates.reduce((a, b) => Math.min(a, b))).toISOString() : null,
        coverMessageId: draft.cover?.messageId ?? null,
        complete,
        relevant: patches.some((p) => p.relevant),
        // The newest, without walking the whole family per member (thousands are quadratic).
        revisions: family
          .slice(-(maxRevisionsListed + 1))
          .filter((d) => d !== draft)
          .slice(-maxRevisionsListed)
          .map((d) => ({ id: idOf(d), version: d.version })),
        newest: family[family.length - 1] === draft,
        patches,
      },
    });
  }
  return result.sort((a, b) => a.draft.firstSeq - b.draft.firstSeq).map((r) => r.series);
}
