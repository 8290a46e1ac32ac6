import type { Series } from "../series/types.js";
import { escapeText } from "./escape.js";

export interface ScanSummary {
  messages: number;
  parseErrors: number;
  series: number;
  complete: number;
  incomplete: number;
  relevant: number;
}

export function summarizeScan(
  series: Series[],
  messages: number,
  parseErrors: number,
): ScanSummary {
  const complete = series.filter((s) => s.complete).length;
  return {
    messages,
    parseErrors,
    series: series.length,
    complete,
    incomplete: series.length - complete,
    relevant: series.filter((s) => s.relevant).length,
  };
}

/** Mail text escaped, then cut to `width` (escaping first, so a cut cannot split an escape's meaning). */
const clip = (raw: string, width: number): string => {
  const text = escapeText(raw);
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
};

/** The readable form of `hypwatch scan`: one line per series, its patches below. */
export function renderScanTable(series: Series[], summary: ScanSummary): string {
  const lines: string[] = [];
  for (const s of series) {
    const have = s.patches.length;
    const state = s.complete ? "complete" : `${have}/${s.total}`;
    const flags = [s.relevant ? "KVM" : "   ", s.newest ? "newest" : "older "].join(" ");
    lines.push(
      `v${String(s.version).padEnd(2)} ${clip(state, 8)} ${flags}  ${clip(s.subject, 72)}  ${escapeText(s.author.name || s.author.email)}`,
    );
    for (const p of s.patches) {
      const mark = p.relevant ? "*" : " ";
      lines.push(`     ${mark} ${String(p.index).padStart(2)}/${s.total} ${clip(p.subject, 80)}`);
    }
  }
  lines.push(
    "",
    `${summary.messages} messages, ${summary.parseErrors} parse errors; ` +
      `${summary.series} series (${summary.complete} complete, ${summary.incomplete} incomplete), ` +
      `${summary.relevant} touch arm64 KVM`,
  );
  return lines.join("\n");
}
