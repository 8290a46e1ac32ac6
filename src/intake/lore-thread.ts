import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { httpGet } from "../io/http.js";
import type { MailLimits } from "../mail/limits.js";
import { HypwatchError } from "../errors.js";
import { SourceError } from "./errors.js";

/**
 * A thread named on the command line, as `b4 am` takes one: a Message-ID (`<id@host>` or
 * `id@host`) or a lore URL (`https://lore.kernel.org/kvmarm/<id>/`, `/all/<id>/T/#u`,
 * `/r/<id>`), and where its `t.mbox.gz` is.
 */
export interface ThreadLocation {
  messageId: string;
  url: string;
}

/**
 * Where the thread of `arg` is: a URL's own inbox (lore's `/r/` redirector is not one: the
 * configured inbox serves it then), or `inboxUrl` for a bare Message-ID. Null when `arg` is
 * neither.
 */
export function threadLocation(arg: string, inboxUrl: string): ThreadLocation | null {
  const inbox = inboxUrl.replace(/\/+$/, "");
  if (/^https?:\/\//i.test(arg)) {
    let url: URL;
    try {
      url = new URL(arg);
    } catch {
      return null;
    }
    const segments = url.pathname.split("/").filter(Boolean).map(decodeSegment);
    const at = segments.findIndex((s) => s.includes("@"));
    const messageId = segments[at];
    if (at < 0 || messageId === undefined) return null;
    const own = at >= 1 && segments[0] !== "r" ? `${url.origin}/${segments[0]}` : inbox;
    return { messageId, url: threadUrl(own, messageId) };
  }
  const messageId = arg.trim().replace(/^<|>$/g, "");
  if (!/^[^\s<>/]+@[^\s<>/]+$/.test(messageId)) return null;
  return { messageId, url: threadUrl(inbox, messageId) };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** public-inbox's URL of a thread: the Message-ID escaped as a path segment, `@` kept. */
function threadUrl(inbox: string, messageId: string): string {
  return `${inbox}/${encodeURIComponent(messageId).replace(/%40/g, "@")}/t.mbox.gz`;
}

export interface FetchThreadOptions {
  userAgent: string;
  limits: Pick<MailLimits, "maxDecompressedBytes">;
  timeoutMs?: number;
}

/**
 * Download the thread at `location` into a temporary `t.mbox.gz` (every reader of this
 * project takes it, its inflated size held to the mail limits) and hand its path to `use`;
 * the file is removed afterwards. A thread the inbox does not have is a `SourceError`
 * naming the Message-ID; an inbox that does not answer is an upstream error.
 */
export async function withFetchedThread<T>(
  location: ThreadLocation,
  opts: FetchThreadOptions,
  use: (file: string) => Promise<T>,
): Promise<T> {
  const got = await httpGet(location.url, {
    headers: { "user-agent": opts.userAgent },
    timeoutMs: opts.timeoutMs ?? 120_000,
    // A gzip'd thread is a fraction of what it inflates to; the inflate bound is the real cap.
    maxBodyBytes: opts.limits.maxDecompressedBytes,
  });
  const name = `<${location.messageId}>`;
  if (got.outcome === "response" && (got.status === 404 || got.status === 410))
    throw new SourceError("not-found", name, `no such thread at ${inboxOf(location)}`);
  if (got.outcome !== "response" || got.status !== 200)
    throw new ThreadFetchError(name, describe(got));
  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-thread-"));
  try {
    const file = path.join(dir, "t.mbox.gz");
    await writeFile(file, got.body);
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function describe(got: Awaited<ReturnType<typeof httpGet>>): string {
  switch (got.outcome) {
    case "response":
      return `the inbox answered ${got.status}`;
    case "too-large":
      return `the thread is more than ${got.maxBodyBytes} bytes`;
    case "timeout":
      return `no answer within ${got.timeoutMs / 1000} s`;
    case "network":
      return got.reason;
  }
}

const inboxOf = (location: ThreadLocation) => location.url.replace(/\/[^/]*\/t\.mbox\.gz$/, "");

/** The inbox did not give the thread (a status, a timeout, the network): retry later. */
export class ThreadFetchError extends HypwatchError {
  readonly kind = "upstream";
  constructor(
    readonly thread: string,
    readonly reason: string,
  ) {
    super(`${thread}: cannot fetch the thread: ${reason}`);
  }
}
