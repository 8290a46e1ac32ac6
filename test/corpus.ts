import { fileURLToPath } from "node:url";
import path from "node:path";
import { mboxrdEntry, readSource } from "../src/intake/index.js";
import { headerValue, messageIds, splitMessage } from "../src/mail/headers.js";

/**
 * The shared real-mail corpus, beside the project (`../shared/corpus`), never copied into
 * it. `HYPWATCH_CORPUS` points elsewhere.
 */
export const CORPUS =
  process.env.HYPWATCH_CORPUS ??
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "shared", "corpus");

export const corpusPath = (...parts: string[]): string => path.join(CORPUS, ...parts);

/** The raw mail of the given Message-IDs in an archive or mailbox (the first copy of each). */
export async function rawMailsById(
  source: string,
  ids: ReadonlySet<string>,
): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  const wanted = new Set(["message-id"]);
  for await (const mail of readSource(source, {})) {
    const id = messageIds(headerValue(splitMessage(mail.raw, wanted).headers, "message-id"))[0];
    if (id && ids.has(id) && !found.has(id)) found.set(id, mail.raw);
  }
  return found;
}

/** Mails as one mboxrd file, as lore serves a thread. */
export const mboxOf = (mails: readonly Buffer[]): Buffer =>
  Buffer.concat(mails.map((m) => mboxrdEntry(m)));
