import { RULES, type AttributedFinding, type Cause } from "../check/index.js";
import type { ReplyPolicy } from "../config.js";
import { emailOf, isBotMail } from "../mail/index.js";
import type { Hunk, Person } from "../mail/types.js";
import type { CommandAck, ReportContext, RequestedBy, ThreadPost } from "../shapes/report.js";
import { causeEffects, causeGroups, causePlace, patchDiffs, type CauseGroup } from "./causes.js";
import { escapeText } from "./escape.js";
import { findingPlace } from "./finding-text.js";
import { withoutIgnored } from "./ignored.js";

/*
 * Replies in the thread, as kernel developers know them from the kernel test robot: one
 * line saying what was found, a short block saying what was checked and how to reproduce
 * it, then each finding with where it is, why it breaks at EL2, the usual fix, and the
 * patch's own lines quoted. Plain text within 72 columns where the content allows; nothing
 * a tool printed, and every piece of text that came from mail escaped.
 */

export interface ReplySettings {
  policy: ReplyPolicy;
  /** The bot's own `Name <address>`: also who is never answered. */
  from: string;
  /** The list's posting address, Cc'd in `list` mode when the thread lacks it. */
  listAddress: string | null;
  /** The public-inbox base for links (`https://lore.kernel.org/all`). */
  loreUrl: string;
  /** The bot's Message-ID domain: mail from it is never answered. */
  messageIdDomain: string;
  /** Addresses of other bots, never answered. */
  botAddresses: readonly string[];
  /** The Message-ID a reply to `messageId` will carry (it is known before sending). */
  messageIdFor(messageId: string): string;
  /** hypwatch's version, for the signature. */
  version: string;
}

export type ReplyKind =
  "findings" | "summary" | "clean" | "fixed" | "not-applied" | "requested" | "ack";

export interface PlannedReply {
  kind: ReplyKind;
  /** The mail answered. */
  inReplyTo: string;
  references: string[];
  to: string[];
  cc: string[];
  subject: string;
  text: string;
}

const WIDTH = 72;

/**
 * Text from mail made safe to quote: control and reordering characters shown as escapes
 * (`\u202e`), tabs kept (code is indented with them), backslashes left as they are.
 */
function plain(text: string): string {
  return text
    .split("\t")
    .map((part) => part.split("\\").map(escapeText).join("\\"))
    .join("\t");
}

/** Words of `text` in lines of at most `width` columns (a longer word stands alone). */
export function wrap(text: string, width = WIDTH, indent = "", next = indent): string[] {
  const lines: string[] = [];
  let line = "";
  const lead = () => (lines.length === 0 ? indent : next);
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && lead().length + line.length + 1 + word.length > width) {
      lines.push(lead() + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(lead() + line);
  return lines;
}

const SAFE_EMAIL = /^[^\s<>@",;:()[\]\\]+@[^\s<>@",;:()[\]\\]+$/;

/** An address for a header, its name quoted where needed; null for an unusable address. */
export function formatAddress(person: Person): string | null {
  const email = person.email.trim();
  if (!SAFE_EMAIL.test(email)) return null;
  // eslint-disable-next-line no-control-regex
  const name = person.name.replace(/[\u0000-\u001f\u007f]/g, " ").trim();
  if (!name) return email;
  const quoted = /^[\p{L}\p{N} .'-]+$/u.test(name)
    ? name
    : `"${name.replace(/["\\]/g, (c) => `\\${c}`)}"`;
  return `${quoted} <${email}>`;
}

/** Mail this bot must never answer: its own, or another bot's. */
function isFromBot(post: ThreadPost, settings: ReplySettings): boolean {
  const { messageIdDomain, botAddresses } = settings;
  return isBotMail(post, { address: emailOf(settings.from), messageIdDomain, botAddresses });
}

/** Why each rule's finding breaks at EL2, and what authors usually do about it. */
const EXPLAIN: Record<string, { why: string; fix: string }> = {
  [RULES.undefinedSymbol]: {
    why: "nVHE hyp code refers to a kernel symbol that is not part of the hyp image; at EL2 the call or load faults.",
    fix: "make the helper __always_inline, call the hyp version, or move the code into arch/arm64/kvm/hyp/.",
  },
  [RULES.instrumentation]: {
    why: "compiler instrumentation reached nVHE code, whose runtime is not mapped at EL2.",
    fix: "restore the hyp Makefile's filter for this flag (e.g. ccflags-remove-y), or mark the function notrace/noinstr as the rest of hyp code is.",
  },
  [RULES.unmappedSection]: {
    why: "the nVHE object has a section the hyp linker script does not map, so its contents are not there at EL2.",
    fix: "place the code or data in a hyp section, or map the section in arch/arm64/kvm/hyp/nvhe/hyp.lds.S.",
  },
  [RULES.newAlias]: {
    why: "a new KVM_NVHE_ALIAS exposes a kernel symbol to nVHE code; if it is code or data not mapped at EL2, using it faults.",
    fix: "drop the alias and give hyp code its own copy, or explain in the commit message why the symbol is safe at EL2.",
  },
  [RULES.legacyCall]: {
    why: "code in .hyp.text calls a function outside the hyp sections, which is not mapped at EL2.",
    fix: "mark the callee __hyp_text, or make it __always_inline.",
  },
  [RULES.legacyReference]: {
    why: "code in .hyp.text refers to data outside the hyp sections, which is not mapped at EL2.",
    fix: "move the data into a hyp section, or pass it in from the host.",
  },
  [RULES.linkError]: {
    why: "the kernel's final link rejects the nVHE object against its alias list (an alias whose hyp target no object defines, for one), so the kernel does not build.",
    fix: "point the alias at a symbol the nVHE objects define (and build the file that defines it), or drop the alias.",
  },
  [RULES.outlinedInline]: {
    why: "the compiler emitted a static inline helper out of line into .text and hyp code calls it there.",
    fix: "make the helper __always_inline.",
  },
};

const place = (f: AttributedFinding): string => plain(findingPlace(f));

/** The inline chain outermost first, as calls: `a():742 -> b():642 -> c():555`. */
const inlineChain = (f: AttributedFinding): string =>
  [...f.inlineChain]
    .reverse()
    .map((frame) => {
      const at = frame.file === f.file ? "" : ` ${frame.file}`;
      return plain(`${frame.function}()${at}${frame.line ? `:${frame.line}` : ""}`);
    })
    .join(" -> ");

/** The patch's lines around a finding, quoted as a reviewer would ("> "), at most ~7. */
export function quoteHunk(post: ThreadPost | undefined, f: AttributedFinding): string[] {
  if (!post) return [];
  const places = [
    ...(f.file && f.line ? [{ file: f.file, line: f.line }] : []),
    ...f.inlineChain.flatMap((frame) =>
      frame.line ? [{ file: frame.file, line: frame.line }] : [],
    ),
  ];
  for (const { file, line } of places) {
    const diff = post.files.find((d) => d.newPath === file);
    const hunk = diff?.hunks.find((h) => line >= h.newStart && line < h.newStart + h.newLines);
    if (diff && hunk) return quoteLines(file, hunk, line, "new");
  }
  return [];
}

/** The patch's lines around the line of a cause it added or removed. */
function quoteCause(post: ThreadPost | undefined, cause: Cause): string[] {
  const { file, line, change } = cause;
  if (!post || !file || !line || !change) return [];
  const side = change === "removed" ? "old" : "new";
  const diff = post.files.find((d) => (side === "old" ? d.oldPath : d.newPath) === file);
  const hunk = diff?.hunks.find((h) =>
    side === "old"
      ? line >= h.oldStart && line < h.oldStart + h.oldLines
      : line >= h.newStart && line < h.newStart + h.newLines,
  );
  return hunk ? quoteLines(file, hunk, line, side) : [];
}

/** Up to ~7 lines of a hunk around `line`, numbered on the `side` it is on. */
function quoteLines(file: string, hunk: Hunk, line: number, side: "old" | "new"): string[] {
  const out = [
    `> ${plain(file)}`,
    `> @@ +${hunk.newStart},${hunk.newLines} @@ ${plain(hunk.section)}`.trimEnd(),
  ];
  const counted = side === "old" ? "-" : "+";
  let at = side === "old" ? hunk.oldStart : hunk.newStart;
  for (const text of hunk.lines) {
    const mark = text[0];
    const here = at;
    if (mark === " " || mark === counted) at += 1;
    if (mark === "\\") continue;
    if (here < line - 3 || here > line + 2) continue;
    out.push(`> ${plain(text)}`.trimEnd());
  }
  return out;
}

/** Places listed under a cause before the rest are only counted. */
const PLACES_SHOWN = 10;

/**
 * Where a cause's findings are: one place, named as the author wrote it (with the function
 * it is inlined into), or the cause's line and then each place its findings are written.
 */
function placeLines(group: CauseGroup): string[] {
  const own = primary(group);
  const places = [...new Set(own.map(place))];
  const [only] = places;
  const sameLine = group.cause.change === null || group.cause.kind === "line";
  if (places.length === 1 && only && sameLine) return wrap(only, WIDTH, "   ");
  const out = wrap(plain(causePlace(group.cause)), WIDTH, "   ");
  // An instrumentation is in whole objects, which its effects line names.
  const located = own.filter((f) => f.kind !== "instrumentation");
  if (located.length === 0) return out;
  const listed = [...new Set(located.map(place))];
  out.push(`   in ${listed.length === 1 ? "1 place" : `${listed.length} places`}:`);
  for (const p of listed.slice(0, PLACES_SHOWN)) out.push(...wrap(p, WIDTH, "     ", "       "));
  if (listed.length > PLACES_SHOWN)
    out.push(`     and ${listed.length - PLACES_SHOWN} more (the check JSON lists them all)`);
  return out;
}

/**
 * The findings a cause brings in itself, without its side effects (the sections it adds,
 * an ld error that names no place); all of them when it has nothing else.
 */
function primary(group: CauseGroup): AttributedFinding[] {
  const own = group.findings.filter((f) => f.kind !== "section" && !(f.kind === "link" && !f.file));
  return own.length > 0 ? own : group.findings;
}

/** The rules a cause breaks itself, whose why and usual fix the reply gives. */
function ownRules(group: CauseGroup): string[] {
  return [...new Set(primary(group).map((f) => f.rule))];
}

function causeLines(
  n: number,
  group: CauseGroup,
  post: ThreadPost | undefined,
  compared: Set<string> | null,
): string[] {
  const { cause, findings } = group;
  const [f] = findings;
  if (!f) return [];
  const status =
    compared === null
      ? ""
      : findings.every((g) => compared.has(g.key))
        ? " (also in the last version)"
        : " (new in this version)";
  const out = [`${n}. ${cause.rules.join(", ")}${status}`, ...placeLines(group)];
  for (const effect of causeEffects(group)) out.push(...wrap(plain(effect), WIDTH, "   "));
  const single = primary(group);
  const [first] = single;
  if (single.length === 1 && first && first.inlineChain.length > 1)
    out.push(...wrap(`inline chain: ${inlineChain(first)}`, WIDTH, "   ", "     "));
  const instrumented = findings.find((g) => g.flags?.length || g.makefile);
  if (instrumented?.flags?.length)
    out.push(...wrap(`let in by: ${plain(instrumented.flags.join(" "))}`, WIDTH, "   "));
  if (instrumented?.makefile && cause.change === null)
    out.push(...wrap(plain(instrumented.makefile.note), WIDTH, "   "));
  for (const rule of ownRules(group)) {
    const explain = EXPLAIN[rule] ?? { why: plain(f.message), fix: "" };
    out.push(...wrap(`Why: ${explain.why}`, WIDTH, "   "));
    if (explain.fix) out.push(...wrap(`Usual fix: ${explain.fix}`, WIDTH, "   "));
  }
  const quoted = quoteCause(post, cause);
  const lines = quoted.length > 0 ? quoted : quoteHunk(post, first ?? f);
  if (lines.length > 0) out.push("", ...lines.map((l) => `   ${l}`));
  if (cause.fixedBy !== null)
    out.push(`   (removed again by patch ${cause.fixedBy} of the series)`);
  return out;
}

/** A cause in one line, for the summary under the cover letter. */
const causeLine = (group: CauseGroup): string =>
  `    ${group.cause.rules.join(", ")}: ${plain(causePlace(group.cause))}`;

/**
 * Causes of the current and previous revisions compared by their findings' keys: a cause is
 * fixed when none of its findings is left, new when one of its findings was not there.
 */
function comparison(context: ReportContext, now: readonly CauseGroup[]) {
  const previous = context.previous?.verdict.result ?? null;
  if (previous === null) return null;
  const before = causeGroups(previous);
  const nowKeys = new Set(now.flatMap((g) => g.findings.map((f) => f.key)));
  const beforeKeys = new Set(previous.findings.map((f) => f.key));
  return {
    version: context.previous?.verdict.version ?? 0,
    beforeKeys,
    fixed: before.filter((g) => g.findings.every((f) => !nowKeys.has(f.key))),
    added: now.filter((g) => g.findings.some((f) => !beforeKeys.has(f.key))),
  };
}

/**
 * What was checked: the series, and (`build`, unless nothing was built) the base,
 * configurations, compilers and the command that reproduces the check.
 */
function header(context: ReportContext, build = true): string[] {
  const { verdict, series } = context.current;
  const result = verdict.result;
  const base = result?.tree.baseCommit ?? null;
  const compilers = [...new Set(Object.values(result?.compilers ?? {}))];
  const lines = wrap(`v${verdict.version} "${plain(verdict.subject)}"`, WIDTH, " ".repeat(11)).map(
    (l, i) => (i === 0 ? `series:    ${l.trimStart()}` : l),
  );
  if (build)
    lines.push(
      `base:      ${base ? base.slice(0, 12) : "none"}${result?.tree.baseChosenBy === "base-commit" ? " (the series' base-commit)" : ""}`,
      `configs:   ${(result?.configs ?? []).join(", ")}`,
      ...compilers.map((cc) => `compiler:  ${plain(cc)}`),
    );
  if (verdict.partial) lines.push("note:      checked before every patch had arrived");
  const anyId = series.coverMessageId ?? series.patches[0]?.messageId;
  if (build && anyId && base)
    lines.push(
      "",
      "To reproduce:",
      `  hypwatch check --base ${base.slice(0, 12)}${context.steps ? " --every-step" : ""} \\`,
      `    '${plain(anyId)}'`,
    );
  return lines;
}

function signature(settings: ReplySettings): string[] {
  return ["", "-- ", `hypwatch ${settings.version}: compile-time checks of arm64 KVM hyp code`];
}

function recipients(post: ThreadPost, settings: ReplySettings): { to: string[]; cc: string[] } {
  const me = emailOf(settings.from).toLowerCase();
  const author = formatAddress(post.author);
  const to = author ? [author] : [];
  if (settings.policy.mode === "author") return { to, cc: [] };
  const seen = new Set([me, post.author.email.toLowerCase()]);
  const cc: string[] = [];
  for (const person of [...post.to, ...post.cc]) {
    const email = person.email.toLowerCase();
    const formatted = formatAddress(person);
    if (seen.has(email) || !formatted) continue;
    seen.add(email);
    cc.push(formatted);
  }
  if (settings.listAddress && !seen.has(settings.listAddress.toLowerCase()))
    cc.push(settings.listAddress);
  return { to, cc };
}

const reSubject = (subject: string): string =>
  /^re:/i.test(subject.trim()) ? subject.trim() : `Re: ${subject.trim()}`;

function replyTo(
  post: ThreadPost,
  kind: ReplyKind,
  body: string[],
  settings: ReplySettings,
): PlannedReply {
  return {
    kind,
    inReplyTo: post.messageId,
    references: [...post.references, post.messageId],
    ...recipients(post, settings),
    // eslint-disable-next-line no-control-regex
    subject: reSubject(post.subject.replace(/[\u0000-\u001f\u007f]/g, " ")),
    text: [...body, ...signature(settings)].join("\n") + "\n",
  };
}

function firstName(person: Person): string {
  const name = plain(person.name.trim().split(/\s+/)[0] ?? "");
  return name && !name.includes("@") ? name : "";
}

function tags(settings: ReplySettings, messageId: string): string[] {
  return [
    "",
    "If you fix this in a separate patch, please add these tags:",
    `Reported-by: ${settings.from}`,
    `Closes: ${settings.loreUrl.replace(/\/+$/, "")}/${encodeURIComponent(messageId).replace(/%40/g, "@")}/`,
  ];
}

/**
 * The replies the bot would send for one verdict under a list's policy: one under each
 * patch that introduces findings, a summary under the cover letter when findings span
 * several patches, or a short note on a clean revision where the list opts in. Empty when
 * the list is off, the verdict says nothing worth mail, or the series comes from a bot.
 */
export function planReplies(asked: ReportContext, settings: ReplySettings): PlannedReply[] {
  const { policy } = settings;
  if (policy.mode === "off") return [];
  const context = withoutIgnored(asked);
  const { series, verdict } = context.current;
  if (verdict.requestedBy) return [answerRequest(context, verdict.requestedBy, settings)];
  // Steps are answered only for what they add: problems one patch brings in, another removes.
  if (context.steps && verdict.kind !== "findings") return [];
  if (verdict.kind === "findings" && verdict.result?.findings.length === 0) return [];
  const cover = series.coverMessageId ? context.posts.get(series.coverMessageId) : undefined;
  const first = series.patches[0] ? context.posts.get(series.patches[0].messageId) : undefined;
  const top = cover ?? first;
  if (!top || isFromBot(top, settings)) return [];
  const groups = causeGroups(verdict.result, patchDiffs(context.current, context.posts));
  const compared = comparison(context, groups);
  const hello = firstName(top.author);
  const greeting = hello ? [`Hi ${hello},`, ""] : [];

  if (verdict.kind === "clean") {
    const reported = context.previous?.verdict.kind === "findings";
    if (reported && policy.fixed && compared) {
      const body = [
        ...greeting,
        ...wrap(
          `hypwatch finds none of the hyp problems it reported on v${compared.version} in this version, and no new ones.`,
        ),
        "",
        ...header(context),
      ];
      return [replyTo(top, "fixed", body, settings)];
    }
    if (!policy.clean) return [];
    const body = [
      ...greeting,
      ...wrap("hypwatch finds no hyp problems introduced by this series."),
      "",
      ...header(context),
    ];
    return [replyTo(top, "clean", body, settings)];
  }
  if (verdict.kind === "does-not-apply" && policy.notApplied && verdict.result) {
    const patchNumber = new Map(series.patches.map((p) => [p.messageId, p.index]));
    const body = [
      ...greeting,
      ...wrap("hypwatch could not check this series: it does not apply to any base it tried."),
      "",
      ...header(context, false),
      "",
    ];
    for (const a of verdict.result.tree.attempts) {
      const at = `${plain(a.ref)}${a.commit ? ` (${a.commit.slice(0, 12)})` : ""}`;
      const why =
        a.outcome === "missing"
          ? "not in the tree"
          : `patch ${patchNumber.get(a.failure?.patchId ?? "") ?? "?"}/${series.total} does not apply (${a.failure?.kind ?? "unknown"})`;
      body.push(...wrap(`${at}: ${why}`, WIDTH, "  "));
    }
    if (!verdict.result.tree.attempts.some((a) => a.source === "base-commit"))
      body.push(
        "",
        ...wrap(
          "The series names no base-commit: `git format-patch --base=<commit>` tells checkers (and maintainers) where it applies.",
        ),
      );
    return [replyTo(top, "not-applied", body, settings)];
  }
  if (verdict.kind !== "findings" || !verdict.result) return [];

  const byPatch = new Map<number, CauseGroup[]>();
  for (const g of groups)
    byPatch.set(g.cause.introducedBy, [...(byPatch.get(g.cause.introducedBy) ?? []), g]);
  const replies: PlannedReply[] = [];
  for (const [index, causes] of [...byPatch].sort(([a], [b]) => a - b)) {
    const patch = series.patches[index - 1];
    const post = patch ? context.posts.get(patch.messageId) : undefined;
    if (!post || isFromBot(post, settings)) continue;
    const counted = `${causes.length} problem${causes.length === 1 ? "" : "s"}`;
    const name = firstName(post.author);
    const body = [
      ...(name ? [`Hi ${name},`, ""] : []),
      ...wrap(
        context.steps
          ? `hypwatch built each patch of this series in turn and found ${counted} in hyp code that this patch (${index}/${series.total}) introduces and a later patch removes again. The series as a whole does not have ${causes.length === 1 ? "it" : "them"}, but a kernel built at this patch (where a bisection may stop) has code that builds and breaks when it runs at EL2.`
          : `hypwatch found ${counted} in hyp code that this patch (${index}/${series.total}) introduces: code that builds but breaks when it runs at EL2.`,
      ),
      "",
      ...header(context),
    ];
    causes.forEach((group, i) => {
      body.push("", ...causeLines(i + 1, group, post, compared?.beforeKeys ?? null));
    });
    body.push(...tags(settings, settings.messageIdFor(post.messageId)));
    replies.push(replyTo(post, "findings", body, settings));
  }
  if (cover && (byPatch.size > 1 || compared)) {
    const body = [
      ...greeting,
      ...wrap(
        context.steps
          ? `hypwatch built each patch of this series in turn and found ${groups.length} hyp problem${groups.length === 1 ? "" : "s"} that one patch introduces and a later one removes again; each is answered under the patch that introduces it.`
          : `hypwatch found ${groups.length} hyp problem${groups.length === 1 ? "" : "s"} introduced by this series; each is answered under its patch.`,
      ),
      "",
      ...header(context),
      "",
    ];
    for (const [index, own] of [...byPatch].sort(([a], [b]) => a - b)) {
      const subject = series.patches[index - 1]?.subject ?? "";
      body.push(...wrap(`[${index}/${series.total}] ${plain(subject)}`), ...own.map(causeLine));
    }
    if (compared) {
      body.push("", `Compared with v${compared.version}:`);
      body.push(`  fixed: ${compared.fixed.length}`, ...compared.fixed.map(causeLine));
      body.push(`  new:   ${compared.added.length}`, ...compared.added.map(causeLine));
    }
    replies.push(replyTo(cover, "summary", body, settings));
  }
  return replies;
}

/** The command mail as the post a reply answers: to its author alone. */
function askerPost(asker: RequestedBy): ThreadPost {
  return {
    messageId: asker.messageId,
    subject: asker.subject,
    author: asker.author,
    to: [],
    cc: [],
    references: asker.references,
    automated: false,
    files: [],
  };
}

const KIND_TEXT: Record<string, string> = {
  clean: "It introduces no hyp problems.",
  "does-not-apply": "It does not apply to any base that was tried.",
  "already-applied": "Its patches are already in the base that was tried.",
  "no-base": "No base was found to apply it to.",
  "timed-out": "The check was stopped at one of its bounds before it could say.",
  "build-failed": "The hyp objects did not build, so the check could not say.",
  superseded: "A newer revision arrived before the check ended.",
};

/** The verdict of a check a person asked for, answered under their mail, to them alone. */
function answerRequest(
  context: ReportContext,
  asker: RequestedBy,
  settings: ReplySettings,
): PlannedReply {
  const { series, verdict } = context.current;
  const name = firstName(asker.author);
  const body = [
    ...(name ? [`Hi ${name},`, ""] : []),
    ...wrap(
      `hypwatch checked v${verdict.version} of this series as asked ("${plain(asker.command)}").`,
    ),
  ];
  const causes = causeGroups(verdict.result, patchDiffs(context.current, context.posts));
  if (verdict.kind === "findings" && causes.length > 0) {
    body.push(...wrap(`It found ${causes.length} problem${causes.length === 1 ? "" : "s"}:`));
    body.push("", ...header(context));
    causes.forEach((group, i) => {
      const index = group.cause.introducedBy;
      const patch = series.patches[index - 1];
      const post = patch ? context.posts.get(patch.messageId) : undefined;
      body.push("", `[${index}/${series.total}] ${plain(patch?.subject ?? "")}`.trimEnd());
      body.push(...causeLines(i + 1, group, post, null));
    });
  } else {
    body.push(...wrap(KIND_TEXT[verdict.kind] ?? ""), "", ...header(context));
  }
  return replyTo(askerPost(asker), "requested", body, {
    ...settings,
    listAddress: null,
    policy: { ...settings.policy, mode: "author" },
  });
}

/** The answer to a command that queued no check (`ignore`, or not understood), to its author. */
export function planAck(ack: CommandAck, settings: ReplySettings): PlannedReply | null {
  if (settings.policy.mode === "off") return null;
  const name = firstName(ack.author);
  const body = [
    ...(name ? [`Hi ${name},`, ""] : []),
    ...ack.lines.flatMap((line) => wrap(plain(line))),
  ];
  return replyTo(askerPost(ack), "ack", body, {
    ...settings,
    listAddress: null,
    policy: { ...settings.policy, mode: "author" },
  });
}
