import cliProgress from "cli-progress";
import { escapeText } from "./escape.js";

/**
 * Progress of long CLI steps on stderr. On a terminal a live bar (cli-progress) redrawn in
 * place; elsewhere (logs, CI) plain lines, at most one per `intervalMs`, and one more after
 * `heartbeatMs` of silence so that a long step with nothing to count still shows it runs:
 *
 *   hypwatch: preparing the kernel tree: 1.2 GB of 1.6 GB (75%), 48 MB/s, ETA 9 s
 *
 * Bytes and messages show a rate, and an ETA when the total is known; steps and builds (whose
 * durations differ too much for an ETA to mean anything) show the time elapsed. A reader of
 * mail (`backfill`) reports with unit `messages`, with or without a total:
 *
 *   const progress = createProgress({ stream: process.stderr, label: "reading", unit: "messages" });
 *   progress.increment(1);       // "hypwatch: reading: 12,345 messages, 410 messages/s"
 *   progress.done("12,345 messages");
 *
 * On a terminal the bar is redrawn on a timer until `done()`: call it in a `finally`.
 */

export type ProgressUnit = "messages" | "bytes" | "steps" | "builds";

/** A stream progress is written to: process.stderr, or any writable (tests). */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface ProgressOptions {
  stream: ProgressStream;
  /** Live bar (true) or plain lines (false). Default: whether `stream` is a terminal. */
  tty?: boolean;
  /** The first stage, shown on the first update (nothing is written before one). */
  label?: string;
  total?: number;
  /** Default `steps`. */
  unit?: ProgressUnit;
  /** Plain lines: at most one per this many ms (default 5,000). */
  intervalMs?: number;
  /** Plain lines: repeated after this many ms without one (default 15,000; 0: never). */
  heartbeatMs?: number;
  /** Milliseconds since some epoch; default `Date.now`. */
  now?: () => number;
  /** Written before every line (default `hypwatch`). */
  prefix?: string;
}

export interface StageOptions {
  total?: number;
  unit?: ProgressUnit;
  /** Where the stage is, as `update` says it: shown on the stage's first line. */
  done?: number;
  detail?: string;
}

export interface Progress {
  /**
   * Start a stage, ending the one before; written at once. The current stage's own label
   * continues it (a new `total` replaces the old, `done` and `detail` update it), so a
   * caller can name the stage and say where it is on every event.
   */
  stage(label: string, opts?: StageOptions): void;
  /** `done` of the stage's total so far; `detail` (text from outside is fine) says what. */
  update(done: number, detail?: string): void;
  increment(n?: number, detail?: string): void;
  /** End the current stage; `summary` replaces its numbers on its last line. Idempotent. */
  done(summary?: string): void;
}

/** What a stage has done, at a moment: the input of every progress line. */
export interface ProgressSnapshot {
  label: string;
  unit: ProgressUnit;
  done: number;
  total: number | null;
  elapsedMs: number;
  detail: string | null;
}

const UNIT_WORD: Record<ProgressUnit, string> = {
  messages: "messages",
  bytes: "",
  steps: "steps",
  builds: "builds",
};

/** Units whose durations differ too much for a rate or an ETA to mean anything. */
const UNEVEN: ReadonlySet<ProgressUnit> = new Set(["steps", "builds"]);

/** `1.2 GB`, `48 MB`, `512 B` (decimal units, a decimal below 10). */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  const shown =
    i > 0 && value < 10 ? String(Math.round(value * 10) / 10) : String(Math.round(value));
  return `${shown} ${units[i]}`;
}

/** `9 s`, `1 min 7 s`, `2 h 5 min`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function formatAmount(n: number, unit: ProgressUnit): string {
  return unit === "bytes" ? formatBytes(n) : n.toLocaleString("en-US");
}

/** Units per second, when there is enough to say (something done, a second gone). */
export function progressRate(s: ProgressSnapshot): number | null {
  if (UNEVEN.has(s.unit) || s.done <= 0 || s.elapsedMs < 1000) return null;
  return s.done / (s.elapsedMs / 1000);
}

/** Milliseconds left at the rate so far; null without a total or a rate. */
export function progressEta(s: ProgressSnapshot): number | null {
  const rate = progressRate(s);
  if (rate === null || s.total === null || s.done >= s.total) return null;
  return ((s.total - s.done) / rate) * 1000;
}

/**
 * The numbers of a snapshot: `1.2 GB of 1.6 GB (75%), 48 MB/s, ETA 9 s`;
 * `12,345 messages, 410 messages/s`; `2 of 6 steps (33%), 1 min 5 s elapsed`.
 */
export function progressStats(s: ProgressSnapshot): string {
  const parts: string[] = [];
  const word = UNIT_WORD[s.unit];
  const suffix = word ? ` ${word}` : "";
  if (s.total !== null) {
    const pct = s.total > 0 ? Math.floor((Math.min(s.done, s.total) / s.total) * 100) : 100;
    parts.push(
      `${formatAmount(s.done, s.unit)} of ${formatAmount(s.total, s.unit)}${suffix} (${pct}%)`,
    );
  } else if (s.done > 0) {
    parts.push(`${formatAmount(s.done, s.unit)}${suffix}`);
  }
  const rate = progressRate(s);
  if (rate !== null)
    parts.push(s.unit === "bytes" ? `${formatBytes(rate)}/s` : `${Math.round(rate)} ${word}/s`);
  const eta = progressEta(s);
  if (eta !== null) parts.push(`ETA ${formatDuration(eta)}`);
  if ((UNEVEN.has(s.unit) || parts.length === 0) && s.elapsedMs >= 1000)
    parts.push(`${formatDuration(s.elapsedMs)} elapsed`);
  return parts.join(", ");
}

/** One plain progress line (no newline); label and detail escaped for the terminal. */
export function progressLine(s: ProgressSnapshot, prefix = "hypwatch"): string {
  return joinLine(prefix, s, ": ");
}

/**
 * `prefix: label<sep>stats (detail)`: `sep` is `: ` in plain lines, the bar on a terminal.
 * Within `width` the detail is shortened first, then the line is cut.
 */
function joinLine(prefix: string, s: ProgressSnapshot, sep: string, width = Infinity): string {
  const stats = progressStats(s);
  const head = `${prefix}: ${escapeText(s.label)}${stats ? `${sep}${stats}` : ""}`;
  if (!s.detail) return head.slice(0, width);
  const detail = escapeText(s.detail);
  const room = width - head.length - 3;
  if (detail.length <= room) return `${head} (${detail})`;
  return room >= 12 ? `${head} (${detail.slice(0, room - 1)}…)` : head.slice(0, width);
}

interface Stage {
  label: string;
  unit: ProgressUnit;
  total: number | null;
  done: number;
  detail: string | null;
  startedAt: number;
  /** Set by `done(summary)`: the stage's last line says this instead of its numbers. */
  summary: string | null;
}

/** Where stages are shown: plain lines or a live bar. */
interface Display {
  start(s: Stage): void;
  show(s: Stage): void;
  end(s: Stage): void;
}

/** Create a progress reporter; see the module comment. */
export function createProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? Date.now;
  const prefix = opts.prefix ?? "hypwatch";
  const tty = opts.tty ?? opts.stream.isTTY === true;
  // The first stage, opened by the first update, counts its time from here.
  let initial = opts.label
    ? { total: opts.total, unit: opts.unit, label: opts.label, startedAt: now() }
    : null;
  let stage: Stage | null = null;

  const snapshot = (s: Stage): ProgressSnapshot => ({
    label: s.label,
    unit: s.unit,
    done: s.done,
    total: s.total,
    elapsedMs: now() - s.startedAt,
    detail: s.detail,
  });
  const render = (s: Stage, sep: string, width = Infinity): string =>
    s.summary === null
      ? joinLine(prefix, snapshot(s), sep, width)
      : `${prefix}: ${escapeText(s.label)}: ${escapeText(s.summary)}`.slice(0, width);
  const display = tty
    ? barDisplay(opts.stream, render)
    : plainDisplay(opts.stream, (s) => render(s, ": "), now, {
        intervalMs: opts.intervalMs ?? 5000,
        heartbeatMs: opts.heartbeatMs ?? 15_000,
      });

  function open(label: string, o: StageOptions & { startedAt?: number } = {}): void {
    initial = null;
    if (stage && stage.label === label) {
      if (o.total !== undefined) stage.total = o.total;
      if (o.done !== undefined || o.detail !== undefined) update(o.done ?? stage.done, o.detail);
      return;
    }
    if (stage) display.end(stage);
    stage = {
      label,
      unit: o.unit ?? "steps",
      total: o.total ?? null,
      done: o.done ?? 0,
      detail: o.detail ?? null,
      startedAt: o.startedAt ?? now(),
      summary: null,
    };
    display.start(stage);
  }
  function update(done: number, detail?: string): void {
    if (!stage) {
      if (initial) open(initial.label, { ...initial, done, detail });
      return;
    }
    stage.done = done;
    if (detail !== undefined) stage.detail = detail;
    display.show(stage);
  }

  return {
    stage: open,
    update,
    increment: (n = 1, detail) => update((stage?.done ?? 0) + n, detail),
    done(summary) {
      if (!stage) return;
      if (summary !== undefined) stage.summary = summary;
      display.end(stage);
      stage = null;
    },
  };
}

function plainDisplay(
  stream: ProgressStream,
  render: (s: Stage) => string,
  now: () => number,
  timing: { intervalMs: number; heartbeatMs: number },
): Display {
  let lastAt = -Infinity;
  let unwritten = false;
  let heartbeat: NodeJS.Timeout | null = null;
  const write = (s: Stage) => {
    stream.write(`${render(s)}\n`);
    lastAt = now();
    unwritten = false;
  };
  return {
    start(s) {
      write(s);
      // A long step with nothing to count (a cold build, `git add` of a whole tree) still
      // shows that it runs; the timer does not keep the process alive.
      if (timing.heartbeatMs > 0)
        heartbeat = setInterval(
          () => {
            if (now() - lastAt >= timing.heartbeatMs) write(s);
          },
          Math.min(timing.intervalMs, timing.heartbeatMs),
        ).unref();
    },
    show(s) {
      unwritten = true;
      if (now() - lastAt >= timing.intervalMs) write(s);
    },
    end(s) {
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = null;
      if (unwritten || s.summary !== null) write(s);
    },
  };
}

/**
 * cli-progress draws the bar and redraws the line in place (and the elapsed time with it,
 * a few times a second); the text around the bar is ours, fitted to the terminal's width
 * so that it never wraps. No terminal mode is changed (cursor, line wrapping), so there is
 * nothing to restore when Ctrl-C ends the process.
 */
function barDisplay(
  stream: ProgressStream,
  render: (s: Stage, sep: string, width: number) => string,
): Display {
  let bar: cliProgress.SingleBar | null = null;
  return {
    start(s) {
      bar = new cliProgress.SingleBar({
        stream,
        format: (options, params) => {
          const sep =
            s.total !== null && s.summary === null
              ? ` [${cliProgress.Format.BarFormat(params.progress, options)}] `
              : ": ";
          return render(s, sep, Math.max(20, params.maxWidth - 1));
        },
        barsize: 12,
        barCompleteChar: "=",
        barIncompleteChar: "-",
        linewrap: true,
        hideCursor: false,
        gracefulExit: false,
        fps: 4,
      });
      bar.start(s.total ?? 1, s.done);
    },
    show(s) {
      if (bar && s.total !== null && bar.getTotal() !== s.total) bar.setTotal(s.total);
      bar?.update(s.done);
    },
    end(s) {
      bar?.update(s.done);
      bar?.stop();
      bar = null;
    },
  };
}
