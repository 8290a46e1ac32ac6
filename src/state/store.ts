import { gunzipSync } from "node:zlib";
import type { Redis } from "ioredis";
import { HypwatchError } from "../errors.js";
import type { SeriesMail } from "../series/index.js";
import { Compressor } from "./compress.js";
import { SCHEMA_VERSION, keyHash, stateKeys, type StateKeys } from "./keys.js";
import type {
  ArrivedMail,
  CommandAck,
  OutboxEntry,
  Revision,
  SeriesHead,
  StoredMessage,
  Superseder,
  Verdict,
} from "./types.js";

/** The Redis holds state written by another version of the key layout. */
export class StateSchemaError extends HypwatchError {
  readonly kind = "permanent";
  constructor(prefix: string, found: string) {
    super(
      `Redis holds hypwatch state of schema version ${found} under "${prefix}"; this hypwatch ` +
        `reads version ${SCHEMA_VERSION} (docs/state.md)`,
    );
  }
}

/** Store a message once per Message-ID (a better parsed copy replaces it) and number its arrival. */
const PUT_MESSAGE = `
local score = redis.call('HGET', KEYS[1], 'score')
local isNew = 0
if not score then
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'summary', ARGV[2], 'score', ARGV[4], 'base', ARGV[5], 'arrived', ARGV[6])
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'raw', ARGV[3]) end
  isNew = 1
elseif tonumber(ARGV[4]) > tonumber(score) then
  redis.call('HSET', KEYS[1], 'summary', ARGV[2], 'score', ARGV[4], 'base', ARGV[5])
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'raw', ARGV[3]) end
end
local seq = redis.call('ZSCORE', KEYS[2], ARGV[7])
if seq then return {tonumber(seq), isNew, 0} end
seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[2], seq, ARGV[7])
return {seq, isNew, 1}
`;

/** Write a verdict once; the first write alone adds its outbox entry. */
const RECORD_VERDICT = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
if ARGV[4] ~= '' then redis.call('XADD', KEYS[3], '*', 'key', ARGV[4], 'check', ARGV[3]) end
return 1
`;

/** Write a steps verdict once; the first write alone adds its outbox entry, if it has one. */
const RECORD_STEPS = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
if ARGV[2] ~= '' then redis.call('XADD', KEYS[2], '*', 'key', ARGV[2], 'check', ARGV[3], 'steps', '1') end
return 1
`;

/** Mark a command handled once; the first mark alone adds its answer to the outbox. */
const RECORD_COMMAND = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
if ARGV[3] ~= '' then redis.call('XADD', KEYS[2], '*', 'key', ARGV[2], 'ack', ARGV[3]) end
return 1
`;

const RENEW_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface PutResult {
  /** Its arrival number in this list. */
  seq: number;
  /** First time this Message-ID was stored, on any list. */
  isNew: boolean;
  /** First time this list carried it. */
  newInList: boolean;
}

/** A mail summary as JSON stores it (Date as text). */
function reviveSummary(json: string): SeriesMail {
  const summary = JSON.parse(json) as SeriesMail & { date: string | null };
  return { ...summary, date: summary.date === null ? null : new Date(summary.date) };
}

/** Summaries kept in memory per store: a window and its margin of a few lists. */
const SUMMARY_CACHE = 50_000;

const headField = (seriesId: string, version: number): string => `${seriesId}\0${version}`;

function parseHeadField(value: string): { seriesId: string; version: number } {
  const at = value.lastIndexOf("\0");
  return { seriesId: value.slice(0, at), version: Number(value.slice(at + 1)) };
}

/**
 * The service's durable state in Redis (run with AOF): messages, each list's arrivals,
 * source checkpoints, series heads, revisions, verdicts, the outbox and the ledger of side
 * effects. Every write that must happen once is one Lua script, so two workers racing on
 * the same key leave one result. Key layout: `stateKeys`, docs/state.md.
 */
export class StateStore {
  readonly keys: StateKeys;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.keys = stateKeys(prefix);
  }

  /** Mark a new installation with this schema version; refuse state of another one. */
  async ensureSchema(): Promise<void> {
    await this.redis.set(this.keys.schema, String(SCHEMA_VERSION), "NX");
    const found = await this.redis.get(this.keys.schema);
    if (found !== String(SCHEMA_VERSION)) throw new StateSchemaError(this.prefix, found ?? "?");
  }

  async putMessage(list: string, message: StoredMessage): Promise<PutResult> {
    const [result] = await this.putMessages(list, [message]);
    if (!result) throw new Error("no reply from Redis");
    return result;
  }

  /** Store messages in one round trip, in order (each as `putMessage`). */
  async putMessages(list: string, messages: readonly StoredMessage[]): Promise<PutResult[]> {
    const hashes = messages.map((m) => keyHash(m.messageId));
    const gzipped = await this.compressor.gzip(messages.flatMap((m) => (m.raw ? [m.raw] : [])));
    let nextGzipped = 0;
    const pipeline = this.redis.pipeline();
    for (const [i, message] of messages.entries())
      pipeline.eval(
        PUT_MESSAGE,
        3,
        this.keys.messageByHash(hashes[i] ?? ""),
        this.keys.arrivals(list),
        this.keys.seq(list),
        message.messageId,
        JSON.stringify(message.summary),
        (message.raw && gzipped[nextGzipped++]) || "",
        String(message.summary.parseScore),
        message.summary.baseCommit ?? "",
        String(message.arrivedAt),
        hashes[i] ?? "",
      );
    for (const hash of hashes) this.summaries.delete(hash);
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, reply], i) => {
      if (error) throw error;
      const [seq, isNew, newInList] = reply as [number, number, number];
      const message = messages[i];
      // Stored for the first time: what Redis holds is this summary, so the window read
      // after this batch need not read it back. A copy stored again (later in the same
      // batch too) may have replaced it: that one is read back.
      const hash = hashes[i] ?? "";
      if (isNew === 1 && message)
        this.remember(hash, {
          seq: Number(seq),
          arrivedAt: message.arrivedAt,
          summary: message.summary,
        });
      else this.summaries.delete(hash);
      return { seq: Number(seq), isNew: isNew === 1, newInList: newInList === 1 };
    });
  }

  /** The raw mail of a stored patch or cover letter. */
  async rawMail(messageId: string): Promise<Buffer | null> {
    const raw = await this.redis.hgetBuffer(this.keys.message(messageId), "raw");
    return raw ? gunzipSync(raw) : null;
  }

  async messageCount(list: string): Promise<number> {
    return this.redis.zcard(this.keys.arrivals(list));
  }

  /** The last `count` messages to arrive in a list, in arrival order. */
  async recentArrivals(list: string, count: number): Promise<ArrivedMail[]> {
    const members = await this.redis.zrange(
      this.keys.arrivals(list),
      String(-count),
      "-1",
      "WITHSCORES",
    );
    const out: (ArrivedMail | undefined)[] = [];
    const missing: { at: number; hash: string; seq: number }[] = [];
    for (let i = 0; i + 1 < members.length; i += 2) {
      const hash = members[i] ?? "";
      const seq = Number(members[i + 1]);
      const known = this.summaries.get(hash);
      if (known) out.push({ ...known, seq });
      else {
        missing.push({ at: out.length, hash, seq });
        out.push(undefined);
      }
    }
    const pipeline = this.redis.pipeline();
    for (const m of missing) pipeline.hmget(this.keys.messageByHash(m.hash), "summary", "arrived");
    const replies = missing.length > 0 ? ((await pipeline.exec()) ?? []) : [];
    replies.forEach(([error, value], i) => {
      const m = missing[i];
      const [summary, arrived] = (value ?? []) as (string | null)[];
      if (error || !summary || !m) return;
      const mail = { seq: m.seq, arrivedAt: Number(arrived), summary: reviveSummary(summary) };
      this.remember(m.hash, mail);
      out[m.at] = mail;
    });
    return out.filter((m): m is ArrivedMail => m !== undefined);
  }

  /**
   * Summaries read before, by message hash: a list's window slides by a batch at a time, so
   * most of it was read by the last update. Bounded; the oldest read go first. A better
   * parsed copy stored by another process later is seen once this one forgets the first.
   */
  private readonly summaries = new Map<string, ArrivedMail>();

  private readonly compressor = new Compressor();

  private remember(hash: string, mail: ArrivedMail): void {
    this.summaries.set(hash, mail);
    if (this.summaries.size <= SUMMARY_CACHE) return;
    const oldest = this.summaries.keys().next();
    if (!oldest.done) this.summaries.delete(oldest.value);
  }

  async checkpoint(source: string): Promise<string | null> {
    return this.redis.hget(this.keys.checkpoints, source);
  }

  async setCheckpoint(source: string, checkpoint: string): Promise<void> {
    await this.redis.hset(this.keys.checkpoints, source, checkpoint);
  }

  async checkpoints(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.checkpoints);
  }

  /** The heads of several series of a list, in one round trip. */
  async heads(
    list: string,
    series: readonly { id: string; version: number }[],
  ): Promise<(SeriesHead | null)[]> {
    if (series.length === 0) return [];
    const fields = series.map((s) => headField(s.id, s.version));
    const values = await this.redis.hmget(this.keys.heads(list), ...fields);
    return values.map((json) => (json ? (JSON.parse(json) as SeriesHead) : null));
  }

  async setHead(list: string, seriesId: string, version: number, head: SeriesHead): Promise<void> {
    await this.redis.hset(
      this.keys.heads(list),
      headField(seriesId, version),
      JSON.stringify(head),
    );
  }

  /** Several series' heads of a list, in one round trip. */
  async setHeads(
    list: string,
    heads: readonly { seriesId: string; version: number; head: SeriesHead }[],
  ): Promise<void> {
    if (heads.length === 0) return;
    await this.redis.hset(
      this.keys.heads(list),
      ...heads.flatMap((h) => [headField(h.seriesId, h.version), JSON.stringify(h.head)]),
    );
  }

  async putRevision(revision: Revision): Promise<void> {
    await this.redis.set(this.keys.revision(revision.key), JSON.stringify(revision));
  }

  /** Revisions of a list, and which revision each of their mails is in, in one round trip. */
  async putRevisions(list: string, revisions: readonly Revision[]): Promise<void> {
    if (revisions.length === 0) return;
    const pipeline = this.redis.pipeline();
    const mails: string[] = [];
    for (const revision of revisions) {
      pipeline.set(this.keys.revision(revision.key), JSON.stringify(revision));
      mails.push(...this.revisionMailFields(revision));
    }
    if (mails.length > 0) pipeline.hset(this.keys.mails(list), ...mails);
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
  }

  async revision(key: string): Promise<Revision | null> {
    const json = await this.redis.get(this.keys.revision(key));
    return json ? (JSON.parse(json) as Revision) : null;
  }

  /** Count a check starting: a check run twice (after a crash) shows here. */
  async countRun(checkKey: string): Promise<number> {
    return this.redis.hincrby(this.keys.runs, checkKey, 1);
  }

  async runs(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.runs);
  }

  /** Mark checks superseded, each with the revision that superseded it (the first mark stays). */
  async markSuperseded(marks: readonly { checkKey: string; by: Superseder }[]): Promise<void> {
    if (marks.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const { checkKey, by } of marks)
      pipeline.hsetnx(this.keys.superseded, checkKey, JSON.stringify(by));
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
  }

  /** The revision that superseded a check, or null while it is not superseded. */
  async supersededBy(checkKey: string): Promise<Superseder | null> {
    const json = await this.redis.hget(this.keys.superseded, checkKey);
    return json ? (JSON.parse(json) as Superseder) : null;
  }

  /**
   * Store a verdict unless one is stored for its check key, and with it (in the same step)
   * its outbox entry, unless the verdict is not to be reported (`superseded`). False when a
   * verdict was already there: nothing was written.
   */
  async recordVerdict(verdict: Verdict): Promise<boolean> {
    const report = verdict.kind === "superseded" ? "" : `verdict:${verdict.checkKey}`;
    const written = await this.redis.eval(
      RECORD_VERDICT,
      3,
      this.keys.verdict(verdict.checkKey),
      this.keys.verdicts,
      this.keys.outbox,
      JSON.stringify(verdict),
      String(verdict.recordedAt),
      verdict.checkKey,
      report,
    );
    return written === 1;
  }

  async verdict(checkKey: string): Promise<Verdict | null> {
    const json = await this.redis.get(this.keys.verdict(checkKey));
    return json ? (JSON.parse(json) as Verdict) : null;
  }

  /**
   * Store the steps verdict of a check (every patch built in turn, after its verdict) unless
   * one is stored, and with it its outbox entry when it found something to report: a
   * `findings` steps verdict. False when one was already there: nothing was written.
   */
  async recordSteps(steps: Verdict): Promise<boolean> {
    const report = steps.kind === "findings" ? `steps:${steps.checkKey}` : "";
    const written = await this.redis.eval(
      RECORD_STEPS,
      2,
      this.keys.steps(steps.checkKey),
      this.keys.outbox,
      JSON.stringify(steps),
      report,
      steps.checkKey,
    );
    return written === 1;
  }

  /** The steps verdict of a check, once its steps were built. */
  async steps(checkKey: string): Promise<Verdict | null> {
    const json = await this.redis.get(this.keys.steps(checkKey));
    return json ? (JSON.parse(json) as Verdict) : null;
  }

  /** The newest `count` verdicts, newest first. */
  async latestVerdicts(count: number): Promise<Verdict[]> {
    const keys = await this.redis.zrevrange(this.keys.verdicts, 0, count - 1);
    if (keys.length === 0) return [];
    const values = await this.redis.mget(keys.map((k) => this.keys.verdict(k)));
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as Verdict);
  }

  async verdictCount(): Promise<number> {
    return this.redis.zcard(this.keys.verdicts);
  }

  /** Outbox entries after stream id `after` ("0": from the start). */
  async outbox(after = "0", count = 100): Promise<OutboxEntry[]> {
    const entries = await this.redis.xrange(this.keys.outbox, `(${after}`, "+", "COUNT", count);
    return entries.map(([id, fields]) => {
      const field = (name: string) => {
        const at = fields.indexOf(name);
        return at === -1 ? null : (fields[at + 1] ?? null);
      };
      const ack = field("ack");
      return {
        id,
        idempotencyKey: field("key") ?? "",
        checkKey: field("check") ?? "",
        ...(field("steps") ? { steps: true } : {}),
        ...(ack ? { ack: JSON.parse(ack) as CommandAck } : {}),
      };
    });
  }

  /**
   * The `mails` fields and values of a revision: which revision each of its mails belongs to
   * (commands name a mail).
   */
  private revisionMailFields({ series }: Pick<Revision, "series">): string[] {
    const ids = [
      ...(series.coverMessageId ? [series.coverMessageId] : []),
      ...series.patches.map((p) => p.messageId),
    ];
    const value = headField(series.id, series.version);
    return ids.flatMap((id) => [keyHash(id), value]);
  }

  /**
   * Which (series id, version) each of `messageIds` was stored in, for those that were, in
   * one round trip.
   */
  async revisionsOfMails(
    list: string,
    messageIds: readonly string[],
  ): Promise<Map<string, { seriesId: string; version: number }>> {
    const found = new Map<string, { seriesId: string; version: number }>();
    const ids = [...new Set(messageIds)];
    if (ids.length === 0) return found;
    const values = await this.redis.hmget(this.keys.mails(list), ...ids.map((id) => keyHash(id)));
    values.forEach((value, i) => {
      const id = ids[i];
      if (value && id !== undefined) found.set(id, parseHeadField(value));
    });
    return found;
  }

  /** Record which revision a revision's mails are in, without storing the revision again. */
  async putRevisionMails(
    list: string,
    revisions: readonly Pick<Revision, "series">[],
  ): Promise<void> {
    const mails = revisions.flatMap((r) => this.revisionMailFields(r));
    if (mails.length > 0) await this.redis.hset(this.keys.mails(list), ...mails);
  }

  /** The (series id, version) whose cover letter or patch `messageId` is, if any. */
  async revisionOfMail(
    list: string,
    messageId: string,
  ): Promise<{ seriesId: string; version: number } | null> {
    const value = await this.redis.hget(this.keys.mails(list), keyHash(messageId));
    return value ? parseHeadField(value) : null;
  }

  async ignoreRule(list: string, seriesId: string, rule: string): Promise<void> {
    await this.redis.sadd(this.keys.ignored(list, seriesId), rule);
  }

  async ignoredRules(list: string, seriesIds: readonly string[]): Promise<string[]> {
    if (seriesIds.length === 0) return [];
    const sets = await Promise.all(
      seriesIds.map((id) => this.redis.smembers(this.keys.ignored(list, id))),
    );
    return [...new Set(sets.flat())].sort();
  }

  /**
   * Mark a command mail handled (its ledger key) and, in the same step, queue its answer;
   * false when it was handled before, and nothing was written.
   */
  async recordCommand(idempotencyKey: string, ack: CommandAck | null): Promise<boolean> {
    const written = await this.redis.eval(
      RECORD_COMMAND,
      2,
      this.keys.ledger(idempotencyKey),
      this.keys.outbox,
      JSON.stringify({ handled: Date.now() }),
      idempotencyKey,
      ack ? JSON.stringify(ack) : "",
    );
    return written === 1;
  }

  /**
   * Record that the side effect named by `idempotencyKey` was done (what it produced, e.g. a
   * Message-ID or issue URL). False when it was recorded before: the caller must not do it
   * again.
   */
  async recordSideEffect(idempotencyKey: string, detail: string): Promise<boolean> {
    return (await this.redis.set(this.keys.ledger(idempotencyKey), detail, "NX")) === "OK";
  }

  async sideEffect(idempotencyKey: string): Promise<string | null> {
    return this.redis.get(this.keys.ledger(idempotencyKey));
  }

  /** Take or keep a lease; true while `holder` has it. */
  async holdLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const key = this.keys.lease(name);
    if ((await this.redis.set(key, holder, "PX", ttlMs, "NX")) === "OK") return true;
    return (await this.redis.eval(RENEW_LEASE, 1, key, holder, String(ttlMs))) === 1;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.redis.eval(RELEASE_LEASE, 1, this.keys.lease(name), holder);
  }

  /** Verdicts recorded from `fromMs` (inclusive) to `toMs` (exclusive), oldest first. */
  async verdictsBetween(fromMs: number, toMs: number): Promise<Verdict[]> {
    const keys = await this.redis.zrangebyscore(this.keys.verdicts, fromMs, `(${toMs}`);
    if (keys.length === 0) return [];
    const values = await this.redis.mget(keys.map((k) => this.keys.verdict(k)));
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as Verdict);
  }
}
