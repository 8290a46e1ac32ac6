import { createHash } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import type { z } from "zod";
import { headerValue, messageIds, splitMessage } from "../../mail/headers.js";

/** What every live source needs besides its protocol: message identity, checkpoints, waits. */

const ID_HEADERS = new Set(["message-id"]);

/** The first Message-ID of a raw message's header, or null. */
export function mailMessageId(raw: Buffer): string | null {
  const { headers } = splitMessage(raw, ID_HEADERS);
  return messageIds(headerValue(headers, "message-id"))[0] ?? null;
}

/** 16 characters of a SHA-256: how checkpoints remember a Message-ID or a file name. */
export function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("base64url").slice(0, 16);
}

/** The seen-key of a Message-ID, or of a message's bytes when it has none. */
export function seenKey(messageId: string | null, raw: Buffer): string {
  const hash = createHash("sha256");
  if (messageId !== null) hash.update(`id:${messageId}`);
  else hash.update("raw:").update(raw);
  return hash.digest("hex").slice(0, 16);
}

/**
 * A stored checkpoint read back against its source's schema, or why it cannot be (the
 * source throws its own error with that reason).
 */
export function decodeCheckpoint<T>(
  schema: z.ZodType<T>,
  from: string,
  shape: string,
): { value: T } | { reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(from);
  } catch {
    return { reason: "checkpoint is not JSON" };
  }
  const parsed = schema.safeParse(json);
  return parsed.success
    ? { value: parsed.data }
    : { reason: `checkpoint has not the ${shape} shape` };
}

/** Wait `ms`, or less when `signal` aborts; never throws. */
export const pause = (ms: number, signal?: AbortSignal): Promise<void> =>
  delay(ms, undefined, { signal }).catch(() => undefined);
