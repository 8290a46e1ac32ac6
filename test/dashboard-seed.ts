import { testPolicy } from "./policy.js";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { AttributedFinding } from "../src/check/index.js";
import { readSource } from "../src/intake/index.js";
import { ingestMail } from "../src/pipeline/ingest.js";
import { updateRevisions, type CheckJobData } from "../src/pipeline/revisions.js";
import type { Verdict, VerdictKind } from "../src/shapes/verdict.js";
import type { StateStore } from "../src/state/store.js";
import { issueLedgerKey } from "../workers/dashboard.js";
import { corpusPath } from "./corpus.js";

/*
 * The dashboard's store as the service leaves it, shared by its HTTP and browser tests.
 */

export const EXAMPLE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../examples/gicv2-warn-v1.mbox",
);
export const SCS_V7 = corpusPath("threads", "scs-v7", "scs-v7-thread.mbox");
export const SWITCH_H = "arch/arm64/kvm/hyp/include/hyp/switch.h";
export const LORE = "https://lore.kernel.org/all";
export const T0 = Date.parse("2026-11-25T19:00:00Z");
/** The dashboard's clock: an hour after the last verdict. */
export const NOW = T0 + 4 * 3600_000;
export const ISSUE = "https://github.com/hypwatch/reports/issues/12";
export const HOSTILE_SUBJECT = `KVM: arm64: <script>alert("x")</script> "quoted" \u202Egnp.exe\u202C & more`;
export const HOSTILE_ID = `cover.a/../?#%2e&x'@evil.example`;
/** The hostile series' finding's function name. */
export const HOSTILE_FUNCTION = `<img src=x onerror=alert(1)>\u202E`;

const policy = testPolicy();

/** `hypwatch check`'s findings for the example's patch 2 (docs/json.md). */
export function printkFindings(fn = "kvm_hyp_handle_dabt_low"): AttributedFinding[] {
  return ["___ratelimit", "_printk"].map((symbol) => ({
    rule: "hyp/undefined-symbol",
    severity: "error",
    kind: "symbol",
    symbol,
    file: SWITCH_H,
    line: 448,
    function: fn,
    inlineChain: [{ function: fn, file: SWITCH_H, line: 448 }],
    config: "defconfig",
    message: `nVHE function ${fn} references kernel symbol ${symbol} at ${SWITCH_H}:448; nothing aliases __kvm_nvhe_${symbol}, so it cannot link (and must not run at EL2)`,
    object: "arch/arm64/kvm/hyp/nvhe/switch.nvhe.o",
    section: ".text",
    key: `hyp/undefined-symbol|${symbol}|${fn}|${SWITCH_H}`,
    introducedBy: 2,
    fixedBy: null,
  }));
}

/** The check keys of the seeded verdicts, oldest first. */
export interface Seeded {
  scs: string;
  v1: string;
  v2: string;
  hostile: string;
}

/**
 * The store as the service leaves it: real threads arrive (the SCS v7 thread, the example
 * series, its v2, and a copy with a hostile cover letter), revisions are assembled and
 * queued, and each newest revision gets a verdict before the next thread arrives. `dir`
 * holds the derived mboxes.
 */
export async function seedDashboard(store: StateStore, dir: string): Promise<Seeded> {
  const example = await readFile(EXAMPLE, "utf8");
  const v2 = example
    .replaceAll("1795632516", "1795719000")
    .replaceAll("[PATCH ", "[PATCH v2 ")
    .replaceAll("25 Nov 2026", "26 Nov 2026");
  const hostile = example
    .replaceAll("cover.1795632516.git.ada@example.org", HOSTILE_ID)
    .replaceAll("1795632516", "1795800000")
    .replaceAll(
      "KVM: arm64: Say more about GICv2 CPU interface traps and VHE panics",
      HOSTILE_SUBJECT,
    );
  await writeFile(path.join(dir, "v2.mbox"), v2);
  await writeFile(path.join(dir, "hostile.mbox"), hostile);

  const queued = new Map<string, CheckJobData>();
  const scheduler = {
    schedule: async (job: CheckJobData) => void queued.set(job.checkKey, job),
    cancel: async (key: string) => void queued.delete(key),
  };
  let clock = T0 - 3600_000;
  async function arrive(source: string): Promise<CheckJobData> {
    for await (const mail of readSource(source))
      await ingestMail({ store, clock: () => clock }, "kvmarm", mail);
    await updateRevisions({ store, scheduler }, policy);
    const newest = [...queued.values()].at(-1);
    if (!newest) throw new Error(`nothing queued after ${source}`);
    return newest;
  }
  async function verdict(
    job: CheckJobData,
    kind: VerdictKind,
    findings: AttributedFinding[],
  ): Promise<string> {
    clock += 3600_000;
    const revision = (await store.revision(job.revision))!;
    const { series } = revision;
    const v: Verdict = {
      checkKey: job.checkKey,
      revision: job.revision,
      list: "kvmarm",
      seriesId: series.id,
      subject: series.subject,
      version: series.version,
      partial: !series.complete,
      kind,
      reason: null,
      result: {
        tree: {
          path: "/work/trees/linux-source-6.1",
          era: "modern",
          baseCommit: "a54fbb4e9f24fdb5bb3dda097180850800a575cb",
          baseChosenBy: "head",
          attempts: [],
          baseReused: [],
        },
        series: { subject: series.subject, version: series.version },
        patches: series.patches.map((p) => ({
          index: p.index,
          id: p.messageId,
          subject: p.subject,
          applied: true,
          failure: null,
          changesHypBuild: true,
        })),
        findings,
        configs: ["defconfig", "instrumented"],
        buildProblems: [],
        timings: { totalMs: 628404, applyMs: 123698, buildMs: 423091, analyzeMs: 81615 },
      },
      analyzer: "test",
      recordedAt: clock,
      latencyMs: clock - revision.lastArrivedAt,
    };
    if (!(await store.recordVerdict(v))) throw new Error(`verdict ${job.checkKey} not recorded`);
    queued.delete(job.checkKey);
    return job.checkKey;
  }

  const scs = await verdict(await arrive(SCS_V7), "clean", []);
  const v1 = await verdict(await arrive(EXAMPLE), "findings", printkFindings());
  await store.recordSideEffect(
    issueLedgerKey("kvmarm", "cover.1795632516.git.ada@example.org"),
    ISSUE,
  );
  const second = await verdict(await arrive(path.join(dir, "v2.mbox")), "clean", []);
  const bad = await verdict(
    await arrive(path.join(dir, "hostile.mbox")),
    "findings",
    printkFindings(HOSTILE_FUNCTION),
  );
  await store.recordSideEffect(
    issueLedgerKey("kvmarm", HOSTILE_ID),
    "javascript:alert(document.cookie)",
  );
  return { scs, v1, v2: second, hostile: bad };
}
