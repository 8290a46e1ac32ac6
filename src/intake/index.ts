export type { RawMail, SourceKind } from "./types.js";
export { SourceError, type SourceErrorKind, type ReadOptions } from "./errors.js";
export {
  readMbox,
  splitMbox,
  mboxrdEntry,
  isGzipFile,
  type MboxFormat,
  type MboxOptions,
} from "./mbox.js";
export { readEml, readEmlDirectory, readMaildir, isMaildir } from "./files.js";
export { readPublicInbox, listEpochs, type PublicInboxOptions } from "./publicInbox.js";
export { readSource, detectSource, type SourceOptions } from "./source.js";
export {
  ImapSource,
  ImapSourceError,
  createImapSource,
  type ImapSourceErrorCode,
  type ImapSourceOptions,
} from "./live/imap.js";
export {
  createLoreSource,
  loreSourceOptions,
  loreUserAgent,
  LoreError,
  type LoreErrorCode,
  type LoreSourceOptions,
} from "./live/lore.js";
export {
  MaildirSource,
  MboxSource,
  LocalSourceError,
  createLocalSource,
  type LocalSourceErrorCode,
  type MaildirSourceOptions,
  type MboxSourceOptions,
} from "./live/files.js";
export {
  createEpochsSource,
  epochsSourceOptions,
  EpochsError,
  type EpochsErrorCode,
  type EpochsSourceOptions,
} from "./live/epochs.js";
