import { parseAddresses } from "./headers.js";
import type { Person } from "./types.js";

/** Who a bot is: what it answers and obeys is never its own mail nor another bot's. */
export interface BotIdentity {
  /** Its own address, lower case. */
  address: string;
  /** The domain of its own Message-IDs. */
  messageIdDomain: string;
  /** Other bots' addresses. */
  botAddresses: readonly string[];
}

/** The address of `Name <address>` (or of a bare address); "" when there is none. */
export function emailOf(text: string): string {
  return parseAddresses(text)[0]?.email ?? "";
}

/** The domain of a Message-ID, lower case. */
export const messageIdDomain = (id: string): string =>
  id.slice(id.lastIndexOf("@") + 1).toLowerCase();

/**
 * Mail a bot must neither answer nor obey, so that two bots cannot talk to each other
 * forever: marked automated, sent from the bot's own address or a known bot's, or carrying
 * a Message-ID on the bot's own domain.
 */
export function isBotMail(
  mail: { author: Person; messageId: string; automated: boolean },
  bot: BotIdentity,
): boolean {
  const email = mail.author.email.toLowerCase();
  return (
    mail.automated ||
    email === bot.address.toLowerCase() ||
    bot.botAddresses.some((a) => a.toLowerCase() === email) ||
    messageIdDomain(mail.messageId) === bot.messageIdDomain.toLowerCase()
  );
}
