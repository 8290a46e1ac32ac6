import type { Verdict } from "../shapes/verdict.js";
import { causeGroups } from "./causes.js";
import { escapeText } from "./escape.js";

/** What `hypwatch status` shows: read from Redis by the service side, rendered here. */
export interface StatusData {
  prefix: string;
  queues: { name: string; counts: Record<string, number> }[];
  lists: { name: string; messages: number }[];
  /** Source key (`<list>/<source id>`) -> its checkpoint. */
  checkpoints: Record<string, string>;
  verdicts: Verdict[];
  /**
   * By check key, the steps verdict of each listed verdict that has one, or `waiting` for
   * one whose steps are still to be built.
   */
  steps?: Record<string, Verdict | "waiting">;
  /** Verdicts stored in all. */
  verdictCount: number;
}

const STATES = ["waiting", "active", "delayed", "failed", "completed"] as const;

/** A checkpoint is opaque and may be long (seen-sets): its start says enough. */
function shorten(text: string, max = 72): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function when(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
}

/** `hypwatch status` as text: queue depths, sources and their checkpoints, latest verdicts. */
export function renderStatus(data: StatusData): string {
  const out: string[] = [`hypwatch state under "${escapeText(data.prefix)}"`, "", "queues:"];
  for (const q of data.queues) {
    const counts = STATES.map((s) => `${s} ${q.counts[s] ?? 0}`).join("  ");
    out.push(`  ${q.name.padEnd(16)} ${counts}`);
  }
  out.push("", "lists:");
  if (data.lists.length === 0) out.push("  none configured");
  for (const l of data.lists) out.push(`  ${l.name.padEnd(16)} ${l.messages} messages stored`);
  out.push("", "sources:");
  const sources = Object.entries(data.checkpoints).sort(([a], [b]) => a.localeCompare(b));
  if (sources.length === 0) out.push("  none read yet");
  for (const [source, checkpoint] of sources)
    out.push(`  ${escapeText(source)}`, `    checkpoint ${escapeText(shorten(checkpoint))}`);
  out.push("", `latest verdicts (${data.verdicts.length} of ${data.verdictCount}):`);
  if (data.verdicts.length === 0) out.push("  none yet");
  for (const v of data.verdicts) {
    const kind = `${v.kind}${v.partial ? " (partial)" : ""}`;
    const n = v.result?.findings.length ?? 0;
    const causes = causeGroups(v.result).length;
    const findings = n ? ` ${causes} ${causes === 1 ? "cause" : "causes"} (${n} findings)` : "";
    out.push(
      `  ${when(v.recordedAt)}  ${kind.padEnd(16)} ${v.list}  v${v.version} ${escapeText(shorten(v.subject, 60))}${findings}`,
    );
    const steps = data.steps?.[v.checkKey];
    if (steps === "waiting") out.push(`${" ".repeat(20)}every step: not built yet`);
    else if (steps) {
      const transient = causeGroups(steps.result).length;
      const said =
        steps.kind === "findings"
          ? `${transient} ${transient === 1 ? "cause" : "causes"} a later patch removes`
          : steps.kind === "clean"
            ? "nothing more"
            : `${steps.kind}${steps.reason ? ` (${escapeText(steps.reason)})` : ""}`;
      out.push(`${" ".repeat(20)}every step built ${when(steps.recordedAt)}: ${said}`);
    }
  }
  return out.join("\n");
}
