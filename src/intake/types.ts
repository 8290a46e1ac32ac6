/** One raw message as it came out of a source, before any parsing. */
export interface RawMail {
  /** The message bytes, exactly as stored (mbox "From " line and >From escaping removed). */
  raw: Buffer;
  /**
   * Where it came from, precise enough to find it again and to name it in an error:
   * `kvmarm-0.git@<commit>`, `thread.mbox#12` (1-based message number), `cur/1234.eml`.
   */
  origin: string;
  /** For public-inbox git epochs: the commit that added the message (resume point). */
  commit?: string;
}

export type SourceKind = "mbox" | "mbox.gz" | "maildir" | "eml" | "public-inbox";
