/** What one GET came to. Like `run()` in exec.ts, an HTTP status is a result, never a throw. */
export type HttpGetResult =
  | { outcome: "response"; status: number; headers: Headers; body: Buffer }
  /** The body (or its announced Content-Length) passed `maxBodyBytes`; reading stopped there. */
  | { outcome: "too-large"; status: number; maxBodyBytes: number }
  /** No complete answer within `timeoutMs` (connecting, headers and body together). */
  | { outcome: "timeout"; timeoutMs: number }
  /** The connection failed (refused, reset, DNS); `reason` names it without the URL. */
  | { outcome: "network"; reason: string };

export interface HttpGetOptions {
  /** GET by default; POST sends an empty body (public-inbox serves a search as mbox to POST). */
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  /** Milliseconds for the whole request, body included. */
  timeoutMs: number;
  /** Bytes of body held at most; a larger body is abandoned as `too-large`. */
  maxBodyBytes: number;
  /** Aborts the request; the abort is thrown, as the caller asked for it. */
  signal?: AbortSignal;
}

/**
 * GET (or POST, with an empty body) a URL with Node's fetch, bounded in time and in body bytes.
 * Redirects are followed. The body is read as a stream and dropped the moment it passes the
 * cap, so a hostile or broken server cannot make us hold more than `maxBodyBytes`.
 */
export async function httpGet(url: string, opts: HttpGetOptions): Promise<HttpGetResult> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  try {
    const { target, headers } = credentialsAsHeader(url, opts.headers ?? {});
    const method = opts.method ?? "GET";
    const response = await fetch(target, { method, headers, signal, redirect: "follow" });
    const announced = Number(response.headers.get("content-length") ?? NaN);
    if (announced > opts.maxBodyBytes) {
      await response.body?.cancel().catch(() => undefined);
      return { outcome: "too-large", status: response.status, maxBodyBytes: opts.maxBodyBytes };
    }
    const parts: Buffer[] = [];
    let length = 0;
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        length += value.length;
        if (length > opts.maxBodyBytes) {
          await reader.cancel().catch(() => undefined);
          return { outcome: "too-large", status: response.status, maxBodyBytes: opts.maxBodyBytes };
        }
        parts.push(Buffer.from(value.buffer, value.byteOffset, value.length));
      }
    }
    const body = Buffer.concat(parts, length);
    return { outcome: "response", status: response.status, headers: response.headers, body };
  } catch (cause) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (timeout.aborted) return { outcome: "timeout", timeoutMs: opts.timeoutMs };
    return { outcome: "network", reason: networkReason(cause) };
  }
}

/**
 * fetch refuses a URL with credentials (`https://user:token@host/...`), and its error
 * repeats the URL: they go as Basic authorization instead, as curl and git send them.
 */
function credentialsAsHeader(
  url: string,
  headers: Record<string, string>,
): { target: string; headers: Record<string, string> } {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return { target: url, headers };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = "";
  parsed.password = "";
  const basic = Buffer.from(`${user}:${password}`).toString("base64");
  return { target: parsed.toString(), headers: { ...headers, authorization: `Basic ${basic}` } };
}

/** fetch's "fetch failed" hides the reason in `cause` (ECONNREFUSED, ECONNRESET, ENOTFOUND). */
function networkReason(cause: unknown): string {
  const inner = cause instanceof Error ? cause.cause : undefined;
  const code = (inner as { code?: unknown } | undefined)?.code;
  if (typeof code === "string") return code;
  return inner instanceof Error ? inner.message : "connection failed";
}

/** A URL fit for logs and errors: user name and password dropped (`https://u:p@host` -> host). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^/?#@]*@/, "//");
  }
}

/**
 * Milliseconds a `Retry-After` value asks to wait (delay-seconds or an HTTP-date, RFC 9110
 * 10.2.3), or null when it says neither.
 */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
