import { mailMessageId } from "../src/intake/live/common.js";
import type { LiveMail, LiveSource } from "../src/intake/live/types.js";

/** Everything a live source yields from `from`, and the errors it reported. */
export async function readAll(
  source: LiveSource,
  from: string | null,
): Promise<{ mails: LiveMail[]; errors: Error[] }> {
  const mails: LiveMail[] = [];
  const errors: Error[] = [];
  for await (const mail of source.read(from, { onError: (e) => errors.push(e) })) mails.push(mail);
  return { mails, errors };
}

/** The Message-ID of a test message, which must have one. */
export function messageId(raw: Buffer): string {
  const id = mailMessageId(raw);
  if (!id) throw new Error("message without Message-ID");
  return id;
}
