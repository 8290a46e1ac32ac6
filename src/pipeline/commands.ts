import { RULES } from "../check/index.js";
import { isBotMail, messageIdDomain, type BotCommand, type BotIdentity } from "../mail/index.js";
import type { SeriesMail } from "../series/index.js";
import type { StateStore } from "../state/store.js";
import type { CommandAck, RequestedBy, Revision, SeriesHead } from "../state/types.js";
import { checkKey, type CheckScheduler, type RevisionPolicy } from "./revisions.js";

export type { BotIdentity };

export interface CommandDeps {
  store: StateStore;
  scheduler: CheckScheduler;
  bot: BotIdentity;
}

/** What became of one command mail. */
export interface CommandOutcome {
  messageId: string;
  /** handled: acted on now; before: handled earlier; skipped: not for the bot, or from a bot. */
  status: "handled" | "before" | "skipped";
  reason?: string;
}

const KNOWN_RULES = new Set<string>(Object.values(RULES));
/** A ref a person may name: branch, tag or commit; no option, no `..` range. */
const REF = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$/;

/** The bot is in To or Cc, or the mail answers one of the bot's own. */
function addressed(mail: SeriesMail, bot: BotIdentity): boolean {
  if ((mail.recipients ?? []).includes(bot.address.toLowerCase())) return true;
  const domain = bot.messageIdDomain.toLowerCase();
  return [mail.inReplyTo, ...mail.references].some(
    (id) => id !== null && messageIdDomain(id) === domain,
  );
}

/** The newest revision of the series a mail answers (by the thread ids it carries). */
async function seriesOf(
  store: StateStore,
  list: string,
  mail: SeriesMail,
): Promise<{ head: SeriesHead; revision: Revision } | null> {
  const ids = [mail.inReplyTo, ...[...mail.references].reverse()].filter(
    (id): id is string => id !== null,
  );
  for (const id of ids) {
    const found = await store.revisionOfMail(list, id);
    if (!found) continue;
    const [head] = await store.heads(list, [{ id: found.seriesId, version: found.version }]);
    const revision = head ? await store.revision(head.revision) : null;
    if (!head || !revision) continue;
    if (head.newest) return { head, revision };
    // An older revision's thread: act on the newest one of its family.
    const newest = [...revision.series.revisions].sort((a, b) => b.version - a.version)[0];
    if (!newest) return { head, revision };
    const [newer] = await store.heads(list, [newest]);
    const newerRevision = newer ? await store.revision(newer.revision) : null;
    return newer && newerRevision ? { head: newer, revision: newerRevision } : { head, revision };
  }
  return null;
}

const HELP = "hypwatch knows: #hypwatch retest, #hypwatch base <ref>, #hypwatch ignore <rule>";

/**
 * Act on the `#hypwatch` commands of newly stored replies, each mail once: `retest` and
 * `base <ref>` queue a check of the series' newest revision whose verdict is answered to the
 * person who asked; `ignore <rule>` keeps that rule's findings out of the series' reports.
 * Only commands addressed to the bot (in To/Cc, or in reply to its own mail) from people,
 * not bots, are obeyed. A command that queues no check is answered through the outbox.
 */
export async function handleCommands(
  deps: CommandDeps,
  policy: Pick<RevisionPolicy, "list" | "check">,
  mails: readonly SeriesMail[],
): Promise<CommandOutcome[]> {
  const { store, bot } = deps;
  const outcomes: CommandOutcome[] = [];
  for (const mail of mails) {
    const commands = mail.commands ?? [];
    if (commands.length === 0) continue;
    const key = `command:${mail.messageId}`;
    if (isBotMail(mail, bot)) {
      outcomes.push({ messageId: mail.messageId, status: "skipped", reason: "from a bot" });
      continue;
    }
    if (!addressed(mail, bot)) {
      outcomes.push({ messageId: mail.messageId, status: "skipped", reason: "not addressed" });
      continue;
    }
    if (await store.sideEffect(key)) {
      outcomes.push({ messageId: mail.messageId, status: "before" });
      continue;
    }
    const asker: RequestedBy = {
      messageId: mail.messageId,
      author: mail.author,
      subject: mail.subject.raw,
      references: mail.references,
      command: "",
    };
    const found = await seriesOf(store, policy.list, mail);
    const answers: string[] = [];
    for (const command of commands)
      answers.push(await obey(deps, policy, found, { ...asker, command: command.line }, command));
    const quiet = answers.filter((a) => a !== "");
    const ack: CommandAck | null =
      quiet.length > 0
        ? { ...asker, command: commands[0]?.line ?? "", list: policy.list, lines: quiet }
        : null;
    await store.recordCommand(key, ack);
    outcomes.push({ messageId: mail.messageId, status: "handled" });
  }
  return outcomes;
}

/** Do one command; the answer to send now, or "" when the check's verdict will answer. */
async function obey(
  deps: CommandDeps,
  policy: Pick<RevisionPolicy, "list" | "check">,
  found: { head: SeriesHead; revision: Revision } | null,
  asker: RequestedBy,
  command: BotCommand,
): Promise<string> {
  if (command.verb === null) return `"${command.line}": not understood. ${HELP}.`;
  if (!found) return `"${command.line}": this thread is not one of the series hypwatch checks.`;
  const { head, revision } = found;
  const name = `v${revision.series.version} "${revision.series.subject}"`;
  if (command.verb === "ignore") {
    const rule = command.argument ?? "";
    if (!KNOWN_RULES.has(rule))
      return `"${command.line}": no rule ${rule}; the rules are ${[...KNOWN_RULES].join(", ")}.`;
    for (const id of [revision.series.id, ...revision.series.revisions.map((r) => r.id)])
      await deps.store.ignoreRule(policy.list, id, rule);
    return `${rule} findings of ${name} and its other revisions will not be reported.`;
  }
  const base = command.verb === "base" ? (command.argument ?? "") : undefined;
  if (base !== undefined && (!REF.test(base) || base.includes("..")))
    return `"${command.line}": "${base}" is not a branch, tag or commit name.`;
  const key = checkKey(head.revision, revision.baseCommit, policy.check, {
    base: base ?? null,
    requestedBy: asker.messageId,
  });
  await deps.scheduler.schedule(
    { checkKey: key, revision: head.revision, ...(base ? { base } : {}), requestedBy: asker },
    0,
  );
  return "";
}
