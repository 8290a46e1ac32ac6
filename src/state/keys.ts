import { createHash } from "node:crypto";

/**
 * The version of the key layout below. A Redis holding another version is refused at start
 * (`StateSchemaError`) rather than read wrongly; docs/state.md lists the keys.
 */
export const SCHEMA_VERSION = 1;

/** Message-IDs and series ids come from mail: keys carry a hash of them, never the text. */
export function keyHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 32);
}

/** Every key of the service's state under one installation prefix (docs/state.md). */
export function stateKeys(prefix: string) {
  const p = `${prefix}:v${SCHEMA_VERSION}`;
  return {
    /** The schema version this installation's state was written with. */
    schema: `${prefix}:schema`,
    /** Hash: id, summary (JSON), raw (gzip, patches and cover letters), score, base, arrived. */
    message: (messageId: string) => `${p}:msg:${keyHash(messageId)}`,
    /** The same, by the hash the arrival sets hold. */
    messageByHash: (hash: string) => `${p}:msg:${hash}`,
    /** Sorted set: message key hash by arrival number in this list. */
    arrivals: (list: string) => `${p}:list:${list}:arrivals`,
    /** Counter: the last arrival number given in this list. */
    seq: (list: string) => `${p}:list:${list}:seq`,
    /** Hash: message hash of a cover letter or patch -> "<series id>\0<version>" it is in. */
    mails: (list: string) => `${p}:list:${list}:mails`,
    /** Set: rules whose findings are not reported for a series (`#hypwatch ignore`). */
    ignored: (list: string, seriesId: string) => `${p}:list:${list}:ignored:${keyHash(seriesId)}`,
    /** Hash: "<series id>\0<version>" -> SeriesHead (JSON). */
    heads: (list: string) => `${p}:list:${list}:heads`,
    /** Hash: source key -> checkpoint. */
    checkpoints: `${p}:checkpoints`,
    /** String: Revision (JSON). */
    revision: (key: string) => `${p}:rev:${key}`,
    /** String: Verdict (JSON), written once. */
    verdict: (checkKey: string) => `${p}:verdict:${checkKey}`,
    /**
     * String: the steps verdict of a check (Verdict, JSON), written once: every patch built in
     * turn after a verdict that built only the base and the final state.
     */
    steps: (checkKey: string) => `${p}:steps:${checkKey}`,
    /** Sorted set: check key by the time its verdict was recorded. */
    verdicts: `${p}:verdicts`,
    /** Hash: check key -> times a check of it started. */
    runs: `${p}:runs`,
    /** Hash: check key a newer revision superseded -> that revision (Superseder, JSON). */
    superseded: `${p}:superseded-by`,
    /** Stream: what must be reported (idempotency key, and a check key or a command's answer). */
    outbox: `${p}:outbox`,
    /** String: what a side effect did, under its idempotency key; written once. */
    ledger: (idempotencyKey: string) => `${p}:ledger:${keyHash(idempotencyKey)}`,
    /** String: which process holds a lease (a source being watched), expiring. */
    lease: (name: string) => `${p}:lease:${keyHash(name)}`,
  };
}

export type StateKeys = ReturnType<typeof stateKeys>;
