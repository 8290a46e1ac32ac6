/**
 * Commands to the bot in a reply, as kernel developers give them to syzbot and regzbot:
 * `#hypwatch <verb> [argument]` alone at the start of a line of the mail's own text (quoted
 * lines, `> ...`, are someone else's words and never count).
 */
export type CommandVerb = "retest" | "base" | "ignore";

export interface BotCommand {
  /** null when the verb is not one the bot knows (it answers with what it knows). */
  verb: CommandVerb | null;
  /** `base <ref>`, `ignore <rule>`; null for `retest`. */
  argument: string | null;
  /** The line as written, trimmed, at most 200 characters. */
  line: string;
}

/** At most this many commands are read from one mail. */
export const MAX_COMMANDS = 5;

const COMMAND = /^#hypwatch(?:[ \t]+(\S+)(?:[ \t]+(\S+))?)?[ \t]*$/;
const VERBS: readonly CommandVerb[] = ["retest", "base", "ignore"];

/** The commands of a mail body, in order; none in quoted lines or after the signature. */
export function parseCommands(body: string): BotCommand[] {
  const out: BotCommand[] = [];
  for (const raw of body.split(/\r?\n/)) {
    if (raw === "-- ") break;
    const line = raw.trimEnd();
    if (!line.startsWith("#hypwatch")) continue;
    const m = COMMAND.exec(line);
    if (!m) {
      out.push({ verb: null, argument: null, line: line.slice(0, 200) });
    } else {
      const word = (m[1] ?? "").toLowerCase();
      const verb = VERBS.find((v) => v === word) ?? null;
      const argument = m[2] ?? null;
      const wellFormed = verb === "retest" ? argument === null : verb !== null && argument !== null;
      out.push({ verb: wellFormed ? verb : null, argument, line: line.slice(0, 200) });
    }
    if (out.length === MAX_COMMANDS) break;
  }
  return out;
}
