import type { ReportContext, ReportedRevision } from "../shapes/report.js";

/**
 * What the series' people asked to hear: the context with the findings of each ignored rule
 * (`#hypwatch ignore <rule>`) taken out of both revisions' verdicts, so that neither a
 * reply nor an issue reports them, and a v(N+1) is not said to fix them. A `findings`
 * verdict left with none reads as `clean`, its reason naming the rules it was cleared of.
 */
export function withoutIgnored(context: ReportContext): ReportContext {
  const ignored = new Set(context.ignored ?? []);
  if (ignored.size === 0) return context;
  const filter = (reported: ReportedRevision): ReportedRevision => {
    const { verdict } = reported;
    if (!verdict.result) return reported;
    const findings = verdict.result.findings.filter((f) => !ignored.has(f.rule));
    if (findings.length === verdict.result.findings.length) return reported;
    const cleared = verdict.kind === "findings" && findings.length === 0;
    return {
      ...reported,
      verdict: {
        ...verdict,
        ...(cleared
          ? {
              kind: "clean",
              reason: `only findings of ignored rules: ${[...ignored].sort().join(", ")}`,
            }
          : {}),
        result: { ...verdict.result, findings },
      },
    };
  };
  return {
    ...context,
    current: filter(context.current),
    previous: context.previous ? filter(context.previous) : null,
  };
}
