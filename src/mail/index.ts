export { parseMail } from "./parse.js";
export { parseSubject } from "./subject.js";
export { parsePatch, parseDiff, parseMetadata, hasMetadata, isPatchBreak } from "./patch.js";
export {
  parseTrailers,
  parseTrailerLine,
  parseReplyTrailers,
  canonicalTrailerName,
  REVIEW_TRAILERS,
} from "./trailers.js";
export { stripListFooters } from "./footers.js";
export { parseAddresses, messageIds } from "./headers.js";
export * from "./types.js";
export { parseCommands, MAX_COMMANDS, type BotCommand, type CommandVerb } from "./commands.js";
export { emailOf, isBotMail, messageIdDomain, type BotIdentity } from "./bots.js";
