import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPublicInbox, type SourceError } from "../src/intake/index.js";
import { scanSource } from "../src/pipeline/scan.js";
import { selectSeries } from "../src/pipeline/select.js";
import { makeEpoch, threadMessages } from "./intake-helpers.js";

/**
 * Real mirrors lack objects now and then. An epoch of the real el2-nvhe-wxn-v1 thread whose
 * commit for one reply points at a blob that is gone: every reader names that blob through
 * the one error path (SourceError "missing-object") and reads on.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
let tmp = "";
let epoch = "";
let missingBlob = "";
let count = 0;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "hypwatch-missing-"));
  epoch = path.join(tmp, "0.git");
  const mails = await threadMessages("el2-nvhe-wxn-v1");
  count = mails.length;
  const reply = mails.findIndex((m) => /^Subject: Re:/m.test(m.raw.toString("latin1")));
  const commits = await makeEpoch(
    epoch,
    mails.map((m) => ({ m: m.raw })),
  );
  const commit = commits[reply] ?? "";
  const blob = await execa("git", [`--git-dir=${epoch}`, "rev-parse", `${commit}:m`]);
  missingBlob = blob.stdout.trim();
  await rm(path.join(epoch, "objects", missingBlob.slice(0, 2), missingBlob.slice(2)));
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const namesTheBlob = (text: string): void => {
  expect(text).toContain(`blob ${missingBlob}`);
  expect(text).toContain("is missing from the archive");
};

describe("a blob missing from an archive", () => {
  it("is one named error of the reader, which reads the other messages", async () => {
    const errors: SourceError[] = [];
    let read = 0;
    for await (const _ of readPublicInbox(epoch, { onError: (e) => errors.push(e) })) read++;
    expect(read).toBe(count - 1);
    expect(errors.map((e) => e.code)).toEqual(["missing-object"]);
    namesTheBlob(errors[0]?.message ?? "");
  });

  it("is one named error of scan, and of series selection for check --mbox", async () => {
    const config = { relevantPaths: ["arch/arm64/kvm/"] };
    const scanned = await scanSource(epoch, config, { workers: 0 });
    expect(scanned.errors).toHaveLength(1);
    namesTheBlob(scanned.errors[0]?.message ?? "");
    expect(scanned.series.some((s) => s.complete)).toBe(true);
    const seen: string[] = [];
    const selected = await selectSeries(epoch, config, { onError: (e) => seen.push(e.message) });
    expect(selected.series?.complete).toBe(true);
    expect(seen).toHaveLength(1);
    namesTheBlob(seen[0] ?? "");
  });

  it.each([
    ["bench:ingest", ["bench/ingest.ts", "--source", "EPOCH", "--no-baseline"]],
    ["compare:mailinfo", ["scripts/compare-mailinfo.ts", "EPOCH"]],
    ["compare:b4", ["scripts/compare-b4.ts", "--threads", "1", "EPOCH"]],
    ["series:archive", ["scripts/series-archive.ts", "EPOCH"]],
  ])("does not stop %s, which names it", { timeout: 120_000 }, async (_, args) => {
    const tsx = path.join(ROOT, "node_modules", ".bin", "tsx");
    const run = await execa(
      tsx,
      args.map((a) => (a === "EPOCH" ? epoch : a)),
      {
        cwd: ROOT,
        reject: false,
      },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    namesTheBlob(run.stderr);
  });
});
