import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readSource } from "../src/intake/index.js";
import { postOf } from "../src/notify/context.js";
import type { RawMail } from "../src/mail/types.js";
import type { Series } from "../src/series/index.js";
import type { CheckResult } from "../src/shapes/check.js";
import type { ReportContext, ThreadPost } from "../src/shapes/report.js";
import type { Verdict, VerdictKind } from "../src/shapes/verdict.js";
import { corpusPath } from "./corpus.js";
import { oneShotSeries } from "./series-helpers.js";

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const example = (name: string) => path.join(ROOT, "examples", name);
const checkOutput = (name: string) => path.join(ROOT, "test", "fixtures", "report", name);

/** A series in `examples/`: a 3-patch series whose patch 2 calls a kernel function from nVHE code. */
export const GICV2_MBOX = example("gicv2-warn-v1.mbox");

/**
 * What `hypwatch check --mbox examples/gicv2-warn-v1.mbox --json` printed on linux 6.1
 * with the cross gcc (defconfig and instrumented): real checker output, kept as it was.
 */
export const GICV2_RESULT = checkOutput("gicv2-warn-v1.check.json");

async function mailsOf(mbox: string): Promise<RawMail[]> {
  const mails: RawMail[] = [];
  for await (const mail of readSource(mbox)) mails.push(mail);
  return mails;
}

const resultOf = async (file: string): Promise<CheckResult> =>
  JSON.parse(await readFile(file, "utf8")) as CheckResult;

export const gicv2Mails = (): Promise<RawMail[]> => mailsOf(GICV2_MBOX);
export const gicv2Result = (): Promise<CheckResult> => resultOf(GICV2_RESULT);

/** The GICv2 example, as its author would post it again as v2 a day later. */
export async function gicv2AsV2(): Promise<RawMail[]> {
  return (await gicv2Mails()).map((mail) => ({
    ...mail,
    raw: Buffer.from(
      mail.raw
        .toString("utf8")
        .replaceAll("1795632516", "1795719000")
        .replaceAll("[PATCH ", "[PATCH v2 ")
        .replaceAll("25 Nov 2026", "26 Nov 2026"),
    ),
  }));
}

/** A thread's mails as the reporters are given them. */
export async function threadPosts(mails: readonly RawMail[]): Promise<Map<string, ThreadPost>> {
  const posts = new Map<string, ThreadPost>();
  for (const raw of mails) {
    const post = await postOf(raw.raw, raw.origin);
    posts.set(post.messageId, post);
  }
  return posts;
}

export function verdictFor(
  series: Series,
  kind: VerdictKind,
  result: CheckResult | null,
  checkKey = `check-${series.version}`,
): Verdict {
  return {
    checkKey,
    revision: `rev-${series.version}`,
    list: "kvmarm",
    seriesId: series.id,
    subject: series.subject,
    version: series.version,
    partial: !series.complete,
    kind,
    reason: null,
    result,
    analyzer: "test",
    recordedAt: Date.parse("2026-11-30T10:00:00Z"),
    latencyMs: 60_000,
  };
}

/** The report context of an example series with its real check result. */
async function exampleContext(mbox: string, resultFile: string): Promise<ReportContext> {
  const mails = await mailsOf(mbox);
  const { relevant } = await oneShotSeries(mails);
  const series = relevant[0];
  if (!series) throw new Error(`${mbox} holds no relevant series`);
  const result = await resultOf(resultFile);
  return {
    current: {
      list: "kvmarm",
      revision: "rev-1",
      series,
      verdict: verdictFor(series, "findings", result),
    },
    previous: null,
    posts: await threadPosts(mails),
  };
}

/** The report context of the GICv2 example series with its real check result. */
export const gicv2Context = (): Promise<ReportContext> => exampleContext(GICV2_MBOX, GICV2_RESULT);

/**
 * A real kvmarm series, Oliver Upton's "KVM: arm64: pKVM memory transitions cleanup"
 * (2022-10-28), with one line of patch 2/2 changed to use the kernel's __va() in nVHE code
 * (examples/README.md), and what `hypwatch check --mbox` printed for it on linux 6.1.
 */
export const PKVM_MBOX = example("pkvm-transitions-va.mbox");
export const PKVM_RESULT = checkOutput("pkvm-transitions-va.check.json");
export const pkvmContext = (): Promise<ReportContext> => exampleContext(PKVM_MBOX, PKVM_RESULT);

export const GICV2_COVER = "cover.1795632516.git.ada@example.org";
export const GICV2_PATCH2 =
  "d677890876d2a5543a6ad4c5c2e60382780a32b6.1795632516.git.ada@example.org";

/** A reply in the GICv2 thread, under patch 2, as a reviewer would write it. */
export function reviewReply(
  n: number,
  body: string,
  headers: Record<string, string> = {},
): RawMail {
  const fields = {
    From: "Marc Reviewer <marc@example.org>",
    To: "Ada Example <ada@example.org>",
    Cc: "kvmarm@lists.linux.dev, hypwatch <bot@hypwatch.test>",
    Subject: "Re: [PATCH 2/3] KVM: arm64: Warn about illegal GICv2 CPU interface accesses",
    "Message-ID": `<review-${n}@example.org>`,
    "In-Reply-To": `<${GICV2_PATCH2}>`,
    References: `<${GICV2_COVER}> <${GICV2_PATCH2}>`,
    Date: "Thu, 26 Nov 2026 10:00:00 +0000",
    ...headers,
  };
  const head = Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}`)
    .join("\n");
  return { raw: Buffer.from(`${head}\n\n${body}`), origin: `review-${n}` };
}

/** The Shadow Call Stack v7 thread (Jan 2020), as the clang-built-linux Google Group carried it. */
export const SCS_MBOX = corpusPath("threads", "scs-v7", "scs-v7-thread.mbox");

/**
 * The report context of SCS v7 with what `hypwatch check --mbox <SCS_MBOX> --json` printed
 * on linux 6.1: its base-commit is not in the tree, and patch 1 does not apply to HEAD.
 */
export async function scsContext(): Promise<ReportContext> {
  const mails: RawMail[] = [];
  for await (const mail of readSource(SCS_MBOX)) mails.push(mail);
  const { relevant } = await oneShotSeries(mails);
  const series = relevant[0];
  if (!series) throw new Error("the SCS v7 thread holds no relevant series");
  const file = path.join(ROOT, "test", "fixtures", "report", "scs-v7.check.json");
  const result = JSON.parse(await readFile(file, "utf8")) as CheckResult;
  return {
    current: {
      list: "kvmarm",
      revision: "rev-scs",
      series,
      verdict: verdictFor(series, "does-not-apply", result),
    },
    previous: null,
    posts: await threadPosts(mails),
  };
}
