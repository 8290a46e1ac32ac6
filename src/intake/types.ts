/** Sources yield raw mail as the mail layer defines it. */
export type { RawMail } from "../mail/types.js";

export type SourceKind = "mbox" | "mbox.gz" | "maildir" | "eml" | "public-inbox";
