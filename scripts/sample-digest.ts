/**
 * Render the sample digest of docs/digest-sample.txt (and .html) from real kvmarm threads:
 * the series, their versions, authors, links and review trailers come from the corpus
 * archive as `hypwatch scan` assembles it; the verdicts and findings are illustrative (no
 * kernel is built here), and the digest says so.
 *
 *   npx tsx scripts/sample-digest.ts [public-inbox epoch or mbox]
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";
import { configSchema } from "../src/config.js";
import { scanSource } from "../src/pipeline/scan.js";
import { renderDigest } from "../src/report/digest.js";
import type { Series } from "../src/series/types.js";
import type { ReportContext } from "../src/shapes/report.js";
import { corpusPath } from "../test/corpus.js";
import { contextOf, finding, verdictOf, type MadeVerdict } from "../test/digest-fixtures.js";

const source = process.argv[2] ?? corpusPath("kvmarm-0.git");
const docs = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "docs");

/** A weekly digest (Mondays 06:00 UTC) of the week of 4 May 2020 on kvmarm. */
const START = Date.parse("2020-05-04T06:00:00Z");
const END = Date.parse("2020-05-11T06:00:00Z");
const day = (d: number, hour: number) => START + (d * 24 + hour - 6) * 3600_000;

/** The series of the sample, by the Message-ID of their cover letter (or only patch). */
const TIDY_V4 = "20200421131734.141766-1-tabba@google.com";
const TIDY_V5 = "20200505154520.194120-1-tabba@google.com";
const SPECULATIVE_AT_V2_STEM = "Unify WORKAROUND_SPECULATIVE_AT";
const SPECULATIVE_AT_V3 = "20200504094858.108917-1-ascull@google.com";
const STAGE2_THP = "20200507123546.1875-1-yuzenghui@huawei.com";
const CPU_HOTPLUG = "1588832387-8489-1-git-send-email-anshuman.khandual@arm.com";

const { series } = await scanSource(source, configSchema.parse({}));
const byId = new Map(series.map((s) => [s.id, s]));

function get(id: string): Series {
  const found = byId.get(id);
  if (!found) throw new Error(`${source}: no series ${id}`);
  return found;
}

/** The revision of `newer`'s series at `version`, as the assembler linked them. */
function version(newer: Series, v: number): Series {
  const id = newer.revisions.find((r) => r.version === v)?.id;
  if (!id) throw new Error(`${newer.id}: no v${v} among its revisions`);
  return get(id);
}

function checked(s: Series, made: MadeVerdict, previous?: { s: Series; made: MadeVerdict }) {
  const verdict = verdictOf(s, made);
  return contextOf(
    s,
    verdict,
    previous ? { series: previous.s, verdict: verdictOf(previous.s, previous.made) } : null,
  );
}

// Illustrative findings, placed where the series' patches change hyp code or its build.
const kcov = finding({
  rule: "hyp/instrumentation",
  kind: "instrumentation",
  symbol: "kcov",
  file: "arch/arm64/kvm/hyp/switch.c",
  line: 620,
  function: "__kvm_vcpu_run_nvhe",
  config: "instrumented",
  message: "KCOV instrumentation (__sanitizer_cov_trace_pc) in nVHE code",
  key: "hyp/instrumentation|kcov|__kvm_vcpu_run_nvhe|arch/arm64/kvm/hyp/switch.c",
  introducedBy: 2,
});
const capCheck = finding({
  symbol: "cpus_have_const_cap",
  file: "arch/arm64/include/asm/kvm_hyp.h",
  line: 95,
  function: "__activate_traps_nvhe",
  message: "nVHE code calls cpus_have_const_cap(), which is not mapped at EL2",
  key: "hyp/undefined-symbol|cpus_have_const_cap|__activate_traps_nvhe|arch/arm64/include/asm/kvm_hyp.h",
  introducedBy: 1,
});
const tlbCall = finding({
  symbol: "__tlb_switch_to_guest",
  rule: "hyp/outlined-inline",
  kind: "outlined-inline",
  file: "arch/arm64/kvm/hyp/tlb.c",
  line: 64,
  function: "__kvm_tlb_flush_vmid_ipa",
  message: "static inline __tlb_switch_to_guest() emitted in .text and called from hyp code",
  key: "hyp/outlined-inline|__tlb_switch_to_guest|__kvm_tlb_flush_vmid_ipa|arch/arm64/kvm/hyp/tlb.c",
  introducedBy: 1,
});

const tidyV5 = get(TIDY_V5);
const atV3 = get(SPECULATIVE_AT_V3);
const atV2 = version(atV3, 2);
if (!atV2.subject.includes(SPECULATIVE_AT_V2_STEM))
  throw new Error(`unexpected v2: ${atV2.subject}`);

const contexts: ReportContext[] = [
  checked(
    tidyV5,
    { kind: "clean", recordedAt: day(1, 16) },
    { s: get(TIDY_V4), made: { kind: "findings", findings: [kcov], recordedAt: day(-14, 14) } },
  ),
  checked(
    atV3,
    { kind: "findings", findings: [capCheck, tlbCall], recordedAt: day(0, 10) },
    { s: atV2, made: { kind: "findings", findings: [capCheck], recordedAt: day(-10, 9) } },
  ),
  checked(get(STAGE2_THP), { kind: "clean", recordedAt: day(3, 13) }),
  checked(get(CPU_HOTPLUG), {
    kind: "no-base",
    recordedAt: day(3, 7),
    attempts: [
      { ref: "kvmarm/next", source: "candidate", commit: null, outcome: "missing" },
      { ref: "arm64/for-next/core", source: "candidate", commit: null, outcome: "missing" },
    ],
  }),
];

const digest = renderDigest({
  name: "kvmarm-weekly",
  lists: ["kvmarm"],
  period: { start: new Date(START), end: new Date(END) },
  contexts,
  loreUrl: "https://lore.kernel.org/kvmarm",
  note:
    "This is a sample. The series, their versions, authors, links and review trailers are " +
    "real (the kvmarm archive); the verdicts and findings are illustrative, not the results " +
    "of checks. Rendered by scripts/sample-digest.ts.",
});

await writeFile(
  path.join(docs, "digest-sample.txt"),
  `Subject: ${digest.subject}\n\n${digest.text}`,
);
// Formatted as the repository's other files are (npm test checks them).
const htmlFile = path.join(docs, "digest-sample.html");
const prettier = (await resolveConfig(htmlFile)) ?? {};
await writeFile(htmlFile, await format(digest.html, { ...prettier, parser: "html" }));
console.log(`docs/digest-sample.txt, docs/digest-sample.html: ${digest.subject}`);
