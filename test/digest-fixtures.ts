import type { AttributedFinding } from "../src/check/index.js";
import { configSchema } from "../src/config.js";
import { scanSource } from "../src/pipeline/scan.js";
import type { Series } from "../src/series/types.js";
import type { CheckResult } from "../src/shapes/check.js";
import type { ReportContext, ReportedRevision } from "../src/shapes/report.js";
import type { Verdict, VerdictKind } from "../src/shapes/verdict.js";
import type { StateStore } from "../src/state/store.js";
import { corpusPath } from "./corpus.js";

/*
 * Digests are made of series and their verdicts. The series are real (corpus threads); the
 * verdicts and findings are made up for each test, as no kernel is built here.
 */

/** The newest series of a corpus thread folder (`threads/<name>`), as `scan` assembles it. */
export async function threadSeries(name: string): Promise<Series> {
  const { series } = await scanSource(corpusPath("threads", name), configSchema.parse({}), {
    workers: 0,
  });
  const newest = series.filter((s) => s.newest && s.relevant);
  const found = newest[0];
  if (!found || newest.length !== 1) throw new Error(`threads/${name}: not one series`);
  return found;
}

/**
 * The same series as if an earlier version `version` had been posted and checked: another
 * id, linked both ways through `revisions`, as the assembler links the versions of a series.
 */
export function earlierVersion(series: Series, version: number): { older: Series; newer: Series } {
  const older: Series = {
    ...series,
    id: `v${version}.${series.id}`,
    version,
    subject: series.subject,
    newest: false,
    revisions: [{ id: series.id, version: series.version }],
  };
  const newer: Series = {
    ...series,
    revisions: [...series.revisions, { id: older.id, version }],
  };
  return { older, newer };
}

export function finding(over: Partial<AttributedFinding> = {}): AttributedFinding {
  const symbol = over.symbol ?? "printk";
  const fn = over.function ?? "__kvm_vcpu_run";
  const file = over.file ?? "arch/arm64/kvm/hyp/nvhe/switch.c";
  return {
    rule: "hyp/undefined-symbol",
    severity: "error",
    kind: "symbol",
    symbol,
    file,
    line: 240,
    function: fn,
    inlineChain: [],
    config: "defconfig",
    message: `nVHE code calls ${symbol}(), which is not mapped at EL2`,
    key: `hyp/undefined-symbol|${symbol}|${fn}|${file}`,
    introducedBy: 1,
    fixedBy: null,
    ...over,
  };
}

export function checkResult(
  findings: AttributedFinding[],
  attempts: CheckResult["tree"]["attempts"] = [],
): CheckResult {
  return {
    tree: {
      path: "/cache/trees/linux",
      era: null,
      baseCommit: attempts.length > 0 ? null : "0123456789abcdef0123456789abcdef01234567",
      baseChosenBy: attempts.length > 0 ? null : "candidate",
      attempts,
      baseReused: [],
    },
    series: null,
    patches: [],
    findings,
    configs: ["defconfig"],
    buildProblems: [],
    timings: { totalMs: 1, applyMs: 1, buildMs: 0, analyzeMs: 0 },
  };
}

export interface MadeVerdict {
  list?: string;
  kind: VerdictKind;
  findings?: AttributedFinding[];
  attempts?: CheckResult["tree"]["attempts"];
  reason?: string | null;
  recordedAt: number;
}

/** A verdict of `series` as the check worker would store it. */
export function verdictOf(series: Series, made: MadeVerdict): Verdict {
  const list = made.list ?? "kvmarm";
  const checkKey = `check-${series.id}-${made.recordedAt}`;
  const withResult = !["superseded", "timed-out"].includes(made.kind);
  return {
    checkKey,
    revision: `rev-${series.id}`,
    list,
    seriesId: series.id,
    subject: series.subject,
    version: series.version,
    partial: false,
    kind: made.kind,
    reason: made.reason ?? null,
    result: withResult ? checkResult(made.findings ?? [], made.attempts) : null,
    analyzer: "test",
    recordedAt: made.recordedAt,
    latencyMs: 1000,
  };
}

/** A report context as src/notify/context.ts loads it (no stored mail to quote). */
export function contextOf(
  series: Series,
  verdict: Verdict,
  previous: { series: Series; verdict: Verdict } | null = null,
): ReportContext {
  const reported = (s: Series, v: Verdict): ReportedRevision => ({
    list: v.list,
    revision: v.revision,
    series: s,
    verdict: v,
  });
  return {
    current: reported(series, verdict),
    previous: previous ? reported(previous.series, previous.verdict) : null,
    posts: new Map(),
  };
}

/** Store a revision, its series head and its verdict as the service does. */
export async function storeVerdict(
  store: StateStore,
  series: Series,
  verdict: Verdict,
): Promise<void> {
  await store.putRevision({
    key: verdict.revision,
    list: verdict.list,
    series,
    baseCommit: null,
    lastArrivedAt: verdict.recordedAt - verdict.latencyMs,
  });
  await store.setHead(verdict.list, series.id, series.version, {
    revision: verdict.revision,
    newest: series.newest,
    relevant: true,
    complete: true,
    check: verdict.checkKey,
  });
  await store.recordVerdict(verdict);
}
