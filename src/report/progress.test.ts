import { Writable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  createProgress,
  formatBytes,
  formatDuration,
  progressLine,
  type ProgressStream,
} from "./progress.js";

/** A stream that keeps what is written; `isTTY` and `columns` as a terminal has them. */
function sink(columns?: number): {
  stream: ProgressStream;
  text: () => string;
  lines: () => string[];
} {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  }) as Writable & { isTTY?: boolean; columns?: number };
  if (columns) {
    stream.isTTY = true;
    stream.columns = columns;
  }
  const text = () => chunks.join("");
  return { stream, text, lines: () => text().split("\n").filter(Boolean) };
}

function fakeClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("plain progress lines", () => {
  it("shows bytes of a total with rate and ETA computed from elapsed time", () => {
    const clock = fakeClock();
    const out = sink();
    const progress = createProgress({ stream: out.stream, now: clock.now, heartbeatMs: 0 });
    progress.stage("preparing the kernel tree", { total: 1_600_000_000, unit: "bytes" });
    clock.advance(25_000);
    progress.update(1_200_000_000);
    progress.done();
    expect(out.lines()).toEqual([
      "hypwatch: preparing the kernel tree: 0 B of 1.6 GB (0%)",
      "hypwatch: preparing the kernel tree: 1.2 GB of 1.6 GB (75%), 48 MB/s, ETA 8 s",
    ]);
  });

  it("counts messages with a rate, with or without a known total", () => {
    const clock = fakeClock();
    const out = sink();
    const progress = createProgress({
      stream: out.stream,
      now: clock.now,
      label: "reading lore",
      unit: "messages",
      heartbeatMs: 0,
    });
    expect(out.text()).toBe("");
    clock.advance(10_000);
    progress.increment(4100);
    progress.stage("reading the archive", { total: 40_000, unit: "messages" });
    clock.advance(30_000);
    progress.update(12_000);
    progress.done("12,000 messages read");
    expect(out.lines()).toEqual([
      // The first update opens the first stage; nothing was written before it.
      "hypwatch: reading lore: 4,100 messages, 410 messages/s",
      "hypwatch: reading the archive: 0 of 40,000 messages (0%)",
      "hypwatch: reading the archive: 12,000 of 40,000 messages (30%), 400 messages/s, ETA 1 min 10 s",
      "hypwatch: reading the archive: 12,000 messages read",
    ]);
  });

  it("writes at most one line per interval, and the last state when the stage ends", () => {
    const clock = fakeClock();
    const out = sink();
    const progress = createProgress({
      stream: out.stream,
      now: clock.now,
      intervalMs: 5000,
      heartbeatMs: 0,
    });
    progress.stage("building", { total: 100, unit: "steps" });
    for (let i = 1; i <= 100; i++) {
      clock.advance(200);
      progress.update(i, `step ${i}`);
    }
    progress.done();
    progress.done();
    expect(out.lines()).toEqual([
      "hypwatch: building: 0 of 100 steps (0%)",
      "hypwatch: building: 25 of 100 steps (25%), 5 s elapsed (step 25)",
      "hypwatch: building: 50 of 100 steps (50%), 10 s elapsed (step 50)",
      "hypwatch: building: 75 of 100 steps (75%), 15 s elapsed (step 75)",
      "hypwatch: building: 100 of 100 steps (100%), 20 s elapsed (step 100)",
    ]);
  });

  it("continues a stage named again, and ends it when another begins", () => {
    const clock = fakeClock();
    const out = sink();
    const progress = createProgress({ stream: out.stream, now: clock.now, heartbeatMs: 0 });
    progress.stage("extracting", { total: 2000, unit: "bytes", detail: "linux.tar.xz" });
    clock.advance(1000);
    progress.stage("extracting", { total: 2000, unit: "bytes", done: 1000 });
    progress.stage("extracting", { total: 2000, unit: "bytes", done: 2000 });
    progress.stage("committing");
    clock.advance(60_000);
    progress.done("ready");
    expect(out.lines()).toEqual([
      "hypwatch: extracting: 0 B of 2 kB (0%) (linux.tar.xz)",
      "hypwatch: extracting: 2 kB of 2 kB (100%), 2 kB/s (linux.tar.xz)",
      "hypwatch: committing",
      "hypwatch: committing: ready",
    ]);
  });

  it("repeats the line after a silence, with the time elapsed", () => {
    vi.useFakeTimers();
    const out = sink();
    const progress = createProgress({
      stream: out.stream,
      now: () => Date.now(),
      intervalMs: 5000,
      heartbeatMs: 15_000,
    });
    progress.stage("building defconfig");
    vi.advanceTimersByTime(31_000);
    progress.done();
    vi.advanceTimersByTime(60_000);
    expect(out.lines()).toEqual([
      "hypwatch: building defconfig",
      "hypwatch: building defconfig: 15 s elapsed",
      "hypwatch: building defconfig: 30 s elapsed",
    ]);
  });

  it("escapes text from outside: a subject cannot move the cursor or fake a line", () => {
    const out = sink();
    const progress = createProgress({ stream: out.stream, heartbeatMs: 0 });
    progress.stage("checking\u001b[2J", { total: 2 });
    progress.update(1, "KVM: arm64: evil\r\nhypwatch: all good\u202e");
    progress.done("done\u001b[1A");
    expect(out.lines()).toEqual([
      "hypwatch: checking\\e[2J: 0 of 2 steps (0%)",
      "hypwatch: checking\\e[2J: done\\e[1A",
    ]);
    for (const c of ["\u001b", "\r", "\u202e"]) expect(out.text()).not.toContain(c);
  });

  it("formats sizes, rates and durations for people", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(138_008_000)).toBe("138 MB");
    expect(formatBytes(1_361_950_720)).toBe("1.4 GB");
    expect(formatDuration(9_400)).toBe("9 s");
    expect(formatDuration(67_000)).toBe("1 min 7 s");
    expect(formatDuration(120_000)).toBe("2 min");
    expect(formatDuration(7_500_000)).toBe("2 h 5 min");
    const snapshot = { label: "l", unit: "bytes", total: null, detail: null } as const;
    expect(progressLine({ ...snapshot, done: 0, elapsedMs: 0 })).toBe("hypwatch: l");
    expect(progressLine({ ...snapshot, done: 5_000_000, elapsedMs: 2000 })).toBe(
      "hypwatch: l: 5 MB, 2.5 MB/s",
    );
  });
});

describe("terminal progress bar", () => {
  it("draws a bar with the numbers on a terminal and ends on a new line", () => {
    const clock = fakeClock();
    const out = sink(200);
    const progress = createProgress({ stream: out.stream, now: clock.now });
    progress.stage("preparing the kernel tree", { total: 1_600_000_000, unit: "bytes" });
    clock.advance(25_000);
    progress.update(1_200_000_000, "linux-source-6.1.tar.xz");
    progress.stage("committing the tree to git");
    progress.done("done");
    const text = out.text();
    expect(text).toContain(
      "hypwatch: preparing the kernel tree [=========---] 1.2 GB of 1.6 GB (75%), 48 MB/s, ETA 8 s (linux-source-6.1.tar.xz)",
    );
    expect(text).toContain("hypwatch: committing the tree to git: done");
    // Redrawn in place (carriage return / cursor moves), each stage left on its own line.
    expect(text).toContain("\u001b[");
    expect(text.endsWith("\n")).toBe(true);
  });

  it("fits the line to the terminal's width, shortening the detail first", () => {
    const drawn = (text: string) =>
      // Escape sequences (cursor moves, clear line) split what is drawn.
      // eslint-disable-next-line no-control-regex
      text.split(/\n|\u001b\[[0-9]*[GK]|\u001b[78]/).filter(Boolean);
    const out = sink(80);
    const progress = createProgress({ stream: out.stream });
    progress.stage("checking", { total: 4, unit: "builds", done: 1, detail: "d".repeat(100) });
    progress.done();
    const lines = drawn(out.text());
    expect(lines.at(-1)).toMatch(
      /^hypwatch: checking \[===---------\] 1 of 4 builds \(25%\) \(d+…\)$/,
    );
    progress.stage("x".repeat(300), { total: 10 });
    progress.done();
    for (const line of drawn(out.text())) expect(line.length).toBeLessThan(80);
  });

  it("can be told to write plain lines on a terminal", () => {
    const out = sink(100);
    const progress = createProgress({ stream: out.stream, tty: false, heartbeatMs: 0 });
    progress.stage("building", { total: 2 });
    progress.done();
    expect(out.text()).toBe("hypwatch: building: 0 of 2 steps (0%)\n");
  });
});
