/**
 * Attacks by mail: hostile messages and archives through the real `hypwatch scan` (a child
 * process, so a hang is bounded and a crash is seen) or the functions `check --mbox` and
 * the parse pool run. A defence holds when the bound was hit, the error names the message
 * and the limit, and the rest of the mail was still read, within the time given.
 */
import { execFile } from "node:child_process";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { configSchema } from "../../src/config.js";
import { parseMails } from "../../src/intake/parsePool.js";
import { scanSource } from "../../src/pipeline/scan.js";
import { selectSeries } from "../../src/pipeline/select.js";
import { HYP_DIFF, mail, manyParts, mbox, nestedMultipart } from "../../test/hostile-mail.js";
import type { AttackCase, AttackOutcome } from "./types.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const MiB = 1024 * 1024;

interface Scan {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** `hypwatch scan <file>` as a user runs it, stopped after `timeoutMs`. */
function scanCli(file: string, timeoutMs: number): Promise<Scan> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "scan", file],
      { cwd: root, timeout: timeoutMs, maxBuffer: 256 * MiB, killSignal: "SIGKILL" },
      (error, stdout, stderr) => {
        const ms = Date.now() - started;
        const failure = error as
          (Error & { code?: number; signal?: string; killed?: boolean }) | null;
        resolve({
          code: failure ? (typeof failure.code === "number" ? failure.code : null) : 0,
          signal: failure?.signal ?? null,
          stdout,
          stderr,
          ms,
          timedOut: failure?.killed === true && ms >= timeoutMs,
        });
      },
    );
  });
}

/** A temporary directory for one attack, removed after it. */
async function inTempDir(run: (dir: string) => Promise<AttackOutcome>): Promise<AttackOutcome> {
  const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-attack-mail-"));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const firstLine = (text: string, needle: string): string =>
  text
    .split("\n")
    .find((line) => line.includes(needle))
    ?.slice(0, 200) ?? "";

/**
 * The verdict on a scan: it ended on its own within the bound, named `limit` and `who` on
 * stderr, and still listed the ordinary series `survivor` (the run went on).
 */
function judgeScan(scan: Scan, limit: string, who: string, survivor: string | null): AttackOutcome {
  const seconds = (scan.ms / 1000).toFixed(1);
  if (scan.timedOut) return { held: false, outcome: `scan still running after ${seconds} s` };
  if (scan.code !== 0)
    return {
      held: false,
      outcome: `scan exited ${scan.code ?? scan.signal}: ${scan.stderr.trim().split("\n").at(-1) ?? ""}`,
    };
  const named = firstLine(scan.stderr, limit);
  if (!named || !named.includes(who))
    return { held: false, outcome: `no error naming ${who} and ${limit} (${seconds} s)` };
  if (survivor !== null && !scan.stdout.includes(survivor))
    return { held: false, outcome: `the rest of the mail was not read: no "${survivor}"` };
  const summary = scan.stdout.trim().split("\n").at(-1) ?? "";
  return { held: true, outcome: `${seconds} s, "${named}"; ${summary}` };
}

const ordinaryPatch = mail({ id: "ok@x", subject: "[PATCH] kvm: ordinary fix", body: HYP_DIFF });

function scanAttack(
  name: string,
  timeoutMs: number,
  write: (file: string) => Promise<void>,
  limit: string,
  who: string,
  survivor: string | null = "ordinary fix",
): AttackCase {
  return {
    name,
    kind: "mail",
    run: () =>
      inTempDir(async (dir) => {
        const file = path.join(dir, "t.mbox");
        await write(file);
        return judgeScan(await scanCli(file, timeoutMs), limit, who, survivor);
      }),
  };
}

/** A 10 GB gzip bomb of ~10 MB: one ordinary message, then 64 MB gzip members of zeros. */
async function writeGzipBomb(file: string): Promise<void> {
  const head = gzipSync(Buffer.from(`${mbox([ordinaryPatch])}From mboxrd@z x\nSubject: bomb\n\n`));
  const member = gzipSync(Buffer.alloc(64 * MiB), { level: 9 });
  const handle = await open(file, "w");
  try {
    await handle.write(head);
    for (let i = 0; i < 160; i++) await handle.write(member);
  } finally {
    await handle.close();
  }
}

/** `n` mails, each a reply to the one before, each re-rolling patch 1/2 one version up. */
function rerollChain(n: number): string {
  const mails: string[] = [];
  for (let i = 0; i < n; i++) {
    const parts = {
      id: `r${i}@x`,
      subject: `[PATCH v${i + 1} 1/2] kvm: fix`,
      body: HYP_DIFF,
      ...(i > 0 ? { inReplyTo: `r${i - 1}@x` } : {}),
    };
    mails.push(mail(parts));
  }
  return mbox([...mails, ordinaryPatch]);
}

function fanOut(replies: number): string {
  const mails = [mail({ id: "p@x", subject: "[PATCH] kvm: reviewed", body: HYP_DIFF })];
  for (let i = 0; i < replies; i++) {
    const body = `Reviewed-by: R${i} <r${i}@example.org>\n`;
    const from = `R${i} <r${i}@example.org>`;
    mails.push(
      mail({ id: `a${i}@x`, subject: "Re: [PATCH] kvm: reviewed", inReplyTo: "p@x", from, body }),
    );
  }
  return mbox([...mails, ordinaryPatch]);
}

const mimeHeaders = (boundary: string) => [
  "MIME-Version: 1.0",
  `Content-Type: multipart/mixed; boundary="${boundary}"`,
];

async function duplicatedMessageId(): Promise<AttackOutcome> {
  return inTempDir(async (dir) => {
    const file = path.join(dir, "dup.mbox");
    const cover = mail({ id: "c@x", subject: "[PATCH 0/1] fix" });
    const mangled = mail({
      id: "p@x",
      subject: "[PATCH 1/1] fix",
      inReplyTo: "c@x",
      body: "gone\n",
    });
    const whole = mail({ id: "p@x", subject: "[PATCH 1/1] fix", inReplyTo: "c@x", body: HYP_DIFF });
    const broken = mail({ id: "b@x", subject: "Re: [PATCH 1/99999999999] fix", inReplyTo: "p@x" });
    await writeFile(file, mbox([cover, mangled, broken, whole]));
    const config = configSchema.parse({});
    const scanned = await scanSource(file, config, { workers: 0 });
    const errors: string[] = [];
    const selected = await selectSeries(file, config, { onError: (e) => errors.push(e.message) });
    const sameSeries = JSON.stringify(selected.series) === JSON.stringify(scanned.series[0]);
    const tookWhole = selected.patches[0]?.mail.toString().includes("diff --git") === true;
    const held = sameSeries && tookWhole && errors.length === 1;
    return {
      held,
      outcome: held
        ? `check --mbox took scan's copy (the one with the diff); skipped: ${errors[0] ?? ""}`
        : `same series ${sameSeries}, copy with diff ${tookWhole}, errors ${errors.length}`,
    };
  });
}

async function workerOutOfMemory(): Promise<AttackOutcome> {
  const hog = mail({ id: "hog@x", subject: "[PATCH] hog", body: "a\n".repeat(6_000_000) });
  const mails = [
    { raw: Buffer.from(ordinaryPatch), origin: "t.mbox#1" },
    { raw: Buffer.from(hog), origin: "t.mbox#2" },
    { raw: Buffer.from(mail({ id: "b@x", subject: "b" })), origin: "t.mbox#3" },
  ];
  const outcomes = [];
  for await (const outcome of parseMails(mails, {
    output: "summary",
    threads: 2,
    batchSize: 3,
    workerHeapMb: 24,
  }))
    outcomes.push(outcome);
  const failed = outcomes[1];
  const held =
    outcomes.length === 3 &&
    outcomes[0]?.ok === true &&
    outcomes[2]?.ok === true &&
    failed?.ok === false;
  return {
    held,
    outcome:
      failed && !failed.ok
        ? `${failed.error.message.slice(0, 160)}; messages 1 and 3 parsed`
        : `outcomes ${outcomes.map((o) => o.ok).join(",")}`,
  };
}

async function controlCharacters(): Promise<AttackOutcome> {
  return inTempDir(async (dir) => {
    const file = path.join(dir, "esc.mbox");
    const encoded = (text: string) => `=?UTF-8?B?${Buffer.from(text).toString("base64")}?=`;
    const subject = encoded("[PATCH] kvm: \u001b]0;owned\u0007\u001b[2J\u202eevil\u0008");
    const from = `${encoded("Eve\u001b[31m\u2066")} <eve@example.org>`;
    await writeFile(file, mbox([mail({ id: "esc@x", subject, from, body: HYP_DIFF })]));
    const scan = await scanCli(file, 60_000);
    const raw = ["\u001b", "\u0007", "\u202e", "\u2066", "\u0008"].filter((c) =>
      scan.stdout.includes(c),
    );
    const held = scan.code === 0 && raw.length === 0 && scan.stdout.includes("\\e[2J");
    const line = firstLine(scan.stdout, "kvm:");
    return {
      held,
      outcome: held
        ? `printed as: ${line.trim()}`
        : `raw characters in output: ${raw.map((c) => c.charCodeAt(0).toString(16)).join(" ")}`,
    };
  });
}

export const mailAttacks: AttackCase[] = [
  scanAttack(
    "subject claiming 10^20 patches",
    60_000,
    (file) =>
      writeFile(
        file,
        mbox([
          mail({ id: "huge@x", subject: "[PATCH 1/100000000000000000000] x", body: HYP_DIFF }),
          ordinaryPatch,
        ]),
      ),
    "HYPWATCH_MAX_SUBJECT_NUMBER",
    "<huge@x>",
  ),
  scanAttack(
    "10 GB gzip bomb t.mbox.gz",
    120_000,
    writeGzipBomb,
    "HYPWATCH_MAX_DECOMPRESSED_BYTES",
    "t.mbox#2",
  ),
  scanAttack(
    "50,000-deep re-roll chain",
    300_000,
    (file) => writeFile(file, rerollChain(50_000)),
    "HYPWATCH_MAX_THREAD_DEPTH",
    "<r1001@x>",
  ),
  scanAttack(
    "30,000 replies to one patch",
    300_000,
    (file) => writeFile(file, fanOut(30_000)),
    "HYPWATCH_MAX_THREAD_FAN_OUT",
    "<a5000@x>",
  ),
  scanAttack(
    "40 MB message",
    120_000,
    (file) =>
      writeFile(
        file,
        mbox([
          mail({ id: "giant@x", subject: "[PATCH] giant", body: "a\n".repeat(20 * MiB) }),
          ordinaryPatch,
        ]),
      ),
    "HYPWATCH_MAX_MESSAGE_BYTES",
    "t.mbox#1",
  ),
  scanAttack(
    "200 MB line",
    120_000,
    (file) =>
      writeFile(
        file,
        mbox([
          mail({ id: "line@x", subject: "[PATCH] line", body: "a".repeat(200 * MiB) }),
          ordinaryPatch,
        ]),
      ),
    "HYPWATCH_MAX_LINE_BYTES",
    "t.mbox#1",
  ),
  scanAttack(
    "MIME nested 10,000 deep",
    120_000,
    (file) =>
      writeFile(
        file,
        mbox([
          mail({
            id: "deep@x",
            subject: "deep",
            headers: mimeHeaders("b0"),
            body: nestedMultipart(10_000),
          }),
          ordinaryPatch,
        ]),
      ),
    "HYPWATCH_MAX_MIME_DEPTH",
    "<deep@x>",
  ),
  scanAttack(
    "MIME of 200,000 parts",
    120_000,
    (file) =>
      writeFile(
        file,
        mbox([
          mail({
            id: "parts@x",
            subject: "parts",
            headers: mimeHeaders("p"),
            body: manyParts(200_000),
          }),
          ordinaryPatch,
        ]),
      ),
    "HYPWATCH_MAX_MIME_PARTS",
    "<parts@x>",
  ),
  { name: "duplicated Message-ID: check --mbox vs scan", kind: "mail", run: duplicatedMessageId },
  { name: "parse worker out of memory", kind: "mail", run: workerOutOfMemory },
  { name: "control characters in subject and name", kind: "mail", run: controlCharacters },
];
