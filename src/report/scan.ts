import type { BotMailEntry, Series } from "../series/types.js";
import { escapeText } from "./escape.js";

export interface ScanSummary {
  messages: number;
  parseErrors: number;
  series: number;
  complete: number;
  incomplete: number;
  relevant: number;
  /** Mails with a diff that programs sent, not series; by kind (`BotMailKind`). */
  botMail: number;
  botMailByKind: Record<string, number>;
}

export function summarizeScan(
  series: Series[],
  messages: number,
  parseErrors: number,
  botMail: readonly BotMailEntry[] = [],
): ScanSummary {
  const complete = series.filter((s) => s.complete).length;
  const botMailByKind: Record<string, number> = {};
  for (const mail of botMail) botMailByKind[mail.kind] = (botMailByKind[mail.kind] ?? 0) + 1;
  return {
    messages,
    parseErrors,
    series: series.length,
    complete,
    incomplete: series.length - complete,
    relevant: series.filter((s) => s.relevant).length,
    botMail: botMail.length,
    botMailByKind,
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
      `${summary.relevant} touch arm64 KVM; ${summary.botMail} bot mails with a diff, not series`,
  );
  return lines.join("\n");
}

/** What `hypwatch scan --json` prints (docs/json.md ## scan). */
export interface ScanOutput {
  summary: ScanSummary;
  lastCommit: string | null;
  series: Series[];
  botMail: BotMailEntry[];
}

/** The `scan --json` object of a scan; `relevantOnly` keeps what touches arm64 KVM. */
export function scanOutput(
  result: {
    series: Series[];
    botMail: BotMailEntry[];
    messages: number;
    errors: readonly unknown[];
    lastCommit: string | null;
  },
  relevantOnly = false,
): ScanOutput {
  return {
    summary: summarizeScan(result.series, result.messages, result.errors.length, result.botMail),
    lastCommit: result.lastCommit,
    series: relevantOnly ? result.series.filter((s) => s.relevant) : result.series,
    botMail: relevantOnly ? result.botMail.filter((m) => m.relevant) : result.botMail,
  };
}
