import { pino, stdTimeFunctions, type DestinationStream, type Logger as PinoLogger } from "pino";
import { errorKind } from "./errors.js";

/** The logger the library and the workers accept: pino, with child loggers per queue and job. */
export type Logger = PinoLogger;

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

const REDACTED = "[redacted]";

/**
 * Shapes of secrets that upstream text carries without being told: the user info of a URL
 * (`https://user:token@host`, `redis://:password@host`), HTTP authorization headers, secret
 * query parameters, and the token formats of GitHub and GitLab.
 */
const SECRET_PATTERNS: [RegExp, string][] = [
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@'"]+@/gi, `$1${REDACTED}@`],
  [/\b(authorization:\s*(?:bearer|basic|token)\s+)[^\s'"]+/gi, `$1${REDACTED}`],
  [/([?&](?:password|passwd|pass|token|access_token|auth|secret)=)[^&\s'"#]+/gi, `$1${REDACTED}`],
  [
    /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,})/g,
    REDACTED,
  ],
];

/**
 * Secret values known from the configuration (a Redis password, a token in the tree URL).
 * Upstream errors print them bare, e.g. ioredis shows `AUTH default <password>` in a failed
 * command, so they are replaced wherever they appear, not only inside URLs.
 */
const knownSecrets = new Set<string>();

/**
 * Remember values that must never be printed. Values under 3 characters are not taken: they
 * would blank ordinary text everywhere, and a password that short is not a secret anyway.
 */
export function registerSecrets(values: Iterable<string | null | undefined>): void {
  for (const value of values) {
    if (!value || value.length < 3) continue;
    knownSecrets.add(value);
    // The same value as it appears in a URL and inside a JSON string (a log line).
    knownSecrets.add(encodeURIComponent(value));
    knownSecrets.add(JSON.stringify(value).slice(1, -1));
  }
}

/** The one redaction: every log line, error message, job failure reason and CLI error passes it. */
export function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  // Longest first, so a value is not half-replaced by a shorter value it contains.
  const secrets = [...knownSecrets].sort((a, b) => b.length - a.length);
  for (const secret of secrets) out = out.split(secret).join(REDACTED);
  return out;
}

/** The same error with its message and stack redacted (its class, so `instanceof` holds). */
export function redactError<E>(error: E): E {
  if (error instanceof Error) {
    error.message = redact(error.message);
    if (error.stack) error.stack = redact(error.stack);
  }
  return error;
}

/** A short, stable name for an error in logs: its system code (ECONNREFUSED) or class. */
export function errorName(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" ? code : error.name;
  }
  return typeof error;
}

/** The message of anything thrown, redacted. */
export function errorMessage(error: unknown): string {
  return redact(error instanceof Error ? error.message : String(error));
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; default stderr, written synchronously so lines survive `process.exit`. */
  destination?: DestinationStream;
}

/**
 * JSON lines with static messages and fields (`queue`, `jobId`, `durationMs`, and `err` with
 * its `kind`: permanent, transient or upstream, and its `name`).
 * Every line passes `redact` on its way out, whatever a field carries.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? "info",
      base: { service: "hypwatch" },
      timestamp: stdTimeFunctions.isoTime,
      serializers: {
        err: (error: unknown) => ({
          kind: errorKind(error),
          name: errorName(error),
          message: errorMessage(error),
        }),
      },
      hooks: { streamWrite: redact },
    },
    opts.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}
