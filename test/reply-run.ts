import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { simpleParser } from "mailparser";
import { parse, stringify } from "yaml";
import { readSource } from "../src/intake/index.js";
import { ImapSource } from "../src/intake/live/imap.js";
import { parseMails } from "../src/intake/parsePool.js";
import type { RawMail } from "../src/mail/types.js";
import {
  buildThreads,
  SeriesAssembler,
  type Series,
  type SeriesMail,
  type ThreadNode,
} from "../src/series/index.js";
import { StateStore } from "../src/state/store.js";
import type { Verdict } from "../src/shapes/verdict.js";
import { startPrivateDovecot, type PrivateDovecot } from "./dovecot-server.js";
import { startGitHubStandIn, type GitHubStandIn } from "./github-standin.js";
import { linuxTree, testCacheDir } from "./linux-tree.js";
import { startPublicInbox, type PublicInboxPeer } from "./public-inbox-server.js";
import { serveEnv, startServe, writeServiceConfig, type ServeProcess } from "./serve-process.js";
import { startSmtpServer, type TestSmtpServer } from "./smtp-server.js";
import { dropKeys, TEST_REDIS_URL } from "./state.js";

/*
 * The whole path of a series through the service, every peer real and on loopback: the
 * series is delivered into a public-inbox that `hypwatch serve` reads as lore over HTTP;
 * the check runs with the cross compiler; the reply goes over SMTP to a server that stores
 * it in a Dovecot mailbox; hypwatch's own IMAP intake reads that mailbox back and its
 * series assembly threads the reply; the issue goes to the GitHub stand-in, which checks
 * every exchange against GitHub's OpenAPI description. Used by `npm run reply-run` and by
 * test/reply-run.test.ts.
 */

export interface ReplyRunOptions {
  /** The series delivered (default: the bundled GICv2 series, a hyp violation in 2/3). */
  mbox?: string;
  /** How long to wait from arrival for the replies and the issue. */
  timeoutMs?: number;
  redisUrl?: string;
  /** Progress lines (stderr in the script). */
  progress?: (text: string) => void;
}

/** One reply as the IMAP intake read it back from Dovecot. */
export interface ReadReply {
  messageId: string;
  subject: string;
  inReplyTo: string | null;
  references: string[];
  /** The message the threading put it under, and its subject. */
  threadedUnder: string | null;
  threadedUnderSubject: string | null;
  /** Marked automated (Auto-Submitted), so assembly takes no trailers from it. */
  automated: boolean;
  /** The message as a reader sees it: the main headers and the plain text. */
  text: string;
}

export interface ReplyRunReport {
  series: { id: string; subject: string; patches: number };
  verdict: {
    kind: string;
    findings: number;
    patches: number[];
    /** The check's own time, and whether the base's findings were reused. */
    checkMs: number | null;
    baseReused: boolean;
  } | null;
  /** Milliseconds since the epoch; null when it never happened. */
  times: {
    arrived: number;
    ingested: number | null;
    verdict: number | null;
    replyInDovecot: number | null;
    replyReadBack: number | null;
    issue: number | null;
  };
  /** Replies the SMTP server took and stored in Dovecot. */
  smtpReceived: number;
  /** Replies expected: one per patch introducing findings, plus a summary when several do. */
  repliesExpected: number;
  replies: ReadReply[];
  issues: { number: number; title: string; state: string; labels: string[]; body: string }[];
  violations: string[];
  /** Each expectation that failed, in words; empty when the run proved what it should. */
  failures: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BOT_DOMAIN = "hypwatch.test";

async function rawMails(file: string): Promise<RawMail[]> {
  const out: RawMail[] = [];
  for await (const mail of readSource(file)) out.push(mail);
  return out;
}

async function summaries(mails: RawMail[]): Promise<SeriesMail[]> {
  const out: SeriesMail[] = [];
  for await (const parsed of parseMails(mails, { output: "summary", threads: 1 })) {
    if (!parsed.ok) throw parsed.error;
    out.push(parsed.value);
  }
  return out;
}

function assemble(mails: SeriesMail[]): Series[] {
  const assembler = new SeriesAssembler();
  for (const mail of mails) assembler.addSummary(mail);
  return assembler.finish();
}

function threadNodes(roots: ThreadNode<SeriesMail>[]): Map<string, ThreadNode<SeriesMail>> {
  const nodes = new Map<string, ThreadNode<SeriesMail>>();
  const stack = [...roots];
  for (let node = stack.pop(); node; node = stack.pop()) {
    nodes.set(node.messageId, node);
    stack.push(...node.children);
  }
  return nodes;
}

/** Every message of the mailbox, read by the service's own IMAP source from the start. */
async function readMailbox(dovecot: PrivateDovecot): Promise<RawMail[]> {
  const source = new ImapSource({
    host: dovecot.host,
    port: dovecot.port,
    secure: false,
    user: dovecot.user,
    password: dovecot.password,
    mailbox: "INBOX",
  });
  const out: RawMail[] = [];
  try {
    for await (const { mail } of source.read(null)) out.push(mail);
  } finally {
    await source.close();
  }
  return out;
}

/** The reply as a reader sees it, headers first: what the README's sample shows. */
async function readable(raw: Buffer): Promise<string> {
  const mail = await simpleParser(raw);
  const header = (name: string) => {
    const value = mail.headers.get(name.toLowerCase());
    if (value === undefined) return [];
    const text =
      typeof value === "string"
        ? value
        : Array.isArray(value)
          ? value.join(" ")
          : value instanceof Date
            ? value.toUTCString()
            : "text" in value
              ? String(value.text)
              : JSON.stringify(value);
    return [`${name}: ${text}`];
  };
  return [
    ...[
      "From",
      "To",
      "Cc",
      "Subject",
      "Message-ID",
      "In-Reply-To",
      "References",
      "Auto-Submitted",
      "X-Hypwatch-Reply",
    ].flatMap(header),
    "",
    (mail.text ?? "").replace(/\n+$/, ""),
  ].join("\n");
}

/** Run the whole path once; peers, the serve process and the Redis prefix are gone after. */
export async function runReplyPath(options: ReplyRunOptions = {}): Promise<ReplyRunReport> {
  const say = options.progress ?? (() => {});
  const mbox = options.mbox ?? path.join(ROOT, "examples", "gicv2-warn-v1.mbox");
  const timeoutMs = options.timeoutMs ?? 20 * 60_000;
  const redisUrl = options.redisUrl ?? TEST_REDIS_URL;

  const seriesMails = await rawMails(mbox);
  const seriesSummaries = await summaries(seriesMails);
  const alone = assemble(seriesSummaries);
  const planned = alone.find((s) => s.relevant && s.newest);
  if (!planned) throw new Error(`${mbox} holds no series touching arm64 KVM`);

  const failures: string[] = [];
  const expect = (ok: boolean, what: string) => {
    if (!ok) failures.push(what);
  };
  const report: ReplyRunReport = {
    series: { id: planned.id, subject: planned.subject, patches: planned.patches.length },
    verdict: null,
    times: {
      arrived: 0,
      ingested: null,
      verdict: null,
      replyInDovecot: null,
      replyReadBack: null,
      issue: null,
    },
    smtpReceived: 0,
    repliesExpected: 0,
    replies: [],
    issues: [],
    violations: [],
    failures,
  };

  const prefix = `hypwatch-reply-run-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(redisUrl);
  const store = new StateStore(redis, `${prefix}:state`);
  let dir = "";
  let lore: PublicInboxPeer | undefined;
  let dovecot: PrivateDovecot | undefined;
  let github: GitHubStandIn | undefined;
  let smtp: TestSmtpServer | undefined;
  let serve: ServeProcess | undefined;
  try {
    say("starting public-inbox-httpd, Dovecot, the SMTP server and the GitHub stand-in");
    dir = await mkdtemp(path.join(tmpdir(), "hypwatch-reply-run-"));
    lore = await startPublicInbox("kvmarm");
    dovecot = await startPrivateDovecot(randomUUID());
    github = await startGitHubStandIn();
    smtp = await startSmtpServer({
      deliverTo: {
        host: dovecot.host,
        port: dovecot.port,
        user: dovecot.user,
        password: dovecot.password,
      },
    });

    // The shared writer makes the list and its source; the run adds replies, mail and GitHub.
    const file = await writeServiceConfig(
      dir,
      [{ type: "lore", url: lore.inboxUrl, pollIntervalSeconds: 30 }],
      { partialWaitSeconds: 3600 },
    );
    const config = parse(await readFile(file, "utf8")) as {
      lists: Record<string, unknown>[];
    } & Record<string, unknown>;
    for (const list of config.lists) {
      list.address = "kvmarm@lists.linux.dev";
      list.reply = { mode: "list", send: true };
    }
    config.mail = {
      from: `hypwatch <hypwatch@${BOT_DOMAIN}>`,
      messageIdDomain: BOT_DOMAIN,
      smtp: { host: "127.0.0.1", port: smtp.port },
    };
    config.github = { repo: `${github.owner}/${github.repo}`, apiUrl: github.url };
    await writeFile(file, stringify(config));

    say("starting hypwatch serve");
    serve = startServe({
      ...serveEnv({
        config: file,
        redisUrl,
        prefix,
        cacheDir: testCacheDir(),
        tree: await linuxTree(),
      }),
      HYPWATCH_GITHUB_TOKEN: github.token,
    });
    await serve.waitFor("workers ready", 120_000);
    await serve.waitFor("watching sources", 60_000);

    for (const mail of seriesMails) await lore.deliver(mail.raw);
    const arrived = Date.now();
    report.times.arrived = arrived;
    say(`delivered ${seriesMails.length} messages of "${planned.subject}" into public-inbox`);

    const deadline = arrived + timeoutMs;
    const running = () => serve?.proc.exitCode === null && serve.proc.signalCode === null;
    const ids = new Set([planned.coverMessageId, ...planned.patches.map((p) => p.messageId)]);
    let verdict: Verdict | undefined;
    for (let waited = 0; !verdict && Date.now() < deadline && running(); waited++) {
      await sleep(1000);
      if (report.times.ingested === null) {
        const arrivals = await store.recentArrivals("kvmarm", 50);
        const ours = arrivals.filter((a) => ids.has(a.summary.messageId));
        if (ours.length === ids.size) {
          report.times.ingested = Math.max(...ours.map((a) => a.arrivedAt));
          say(`ingested after ${secs(report.times.ingested - arrived)}; checking`);
        }
      }
      verdict = (await store.latestVerdicts(20)).find((v) => v.seriesId === planned.id);
      if (waited % 60 === 59) say(`waiting for the verdict (${secs(Date.now() - arrived)})`);
    }
    expect(running(), `hypwatch serve exited early:\n${serve.output().slice(-4000)}`);
    if (!verdict) {
      expect(false, `no verdict within ${secs(timeoutMs)} of arrival`);
      return report;
    }
    const findings = verdict.result?.findings ?? [];
    const withFindings = [...new Set(findings.map((f) => f.introducedBy))].sort((a, b) => a - b);
    report.verdict = {
      kind: verdict.kind,
      findings: findings.length,
      patches: withFindings,
      checkMs: verdict.result?.timings.totalMs ?? null,
      baseReused: (verdict.result?.tree.baseReused.length ?? 0) > 0,
    };
    report.times.verdict = verdict.recordedAt;
    say(`verdict ${verdict.kind} after ${secs(verdict.recordedAt - arrived)}`);
    expect(verdict.kind === "findings", `verdict is ${verdict.kind}, not findings`);
    expect(
      withFindings.includes(2),
      `no finding attributed to patch 2/3 (patches: ${withFindings.join(", ")})`,
    );
    if (verdict.kind !== "findings") return report;
    report.repliesExpected = withFindings.length + (withFindings.length > 1 ? 1 : 0);

    while (
      (smtp.received.length < report.repliesExpected || report.times.issue === null) &&
      Date.now() < deadline &&
      running()
    ) {
      if (report.times.issue === null && github.issues().length > 0)
        report.times.issue = Date.now();
      await sleep(250);
    }
    const deliveredAt = smtp.received.map((m) => m.deliveredAt ?? m.receivedAt);
    if (deliveredAt.length > 0) report.times.replyInDovecot = Math.max(...deliveredAt);
    // A little longer: a reply sent twice, or a second issue, would show now.
    await sleep(5000);
    report.smtpReceived = smtp.received.length;

    // hypwatch's own intake reads the mailbox back, until it holds what SMTP delivered.
    let mailbox: RawMail[] = [];
    const readBy = Date.now() + 30_000;
    do {
      mailbox = await readMailbox(dovecot);
      if (mailbox.length >= report.smtpReceived) break;
      await sleep(500);
    } while (Date.now() < readBy);
    report.times.replyReadBack = Date.now();

    const replySummaries = await summaries(mailbox);
    const together = [...seriesSummaries, ...replySummaries];
    const nodes = threadNodes(buildThreads(together));
    const subjectOf = new Map(together.map((m) => [m.messageId, m.subject.raw]));
    for (const [i, reply] of replySummaries.entries()) {
      const parent = nodes.get(reply.messageId)?.parent ?? null;
      report.replies.push({
        messageId: reply.messageId,
        subject: reply.subject.raw,
        inReplyTo: reply.inReplyTo,
        references: reply.references,
        threadedUnder: parent?.messageId ?? null,
        threadedUnderSubject: parent ? (subjectOf.get(parent.messageId) ?? null) : null,
        automated: reply.automated,
        text: await readable(mailbox[i]?.raw ?? Buffer.alloc(0)),
      });
    }

    expect(
      report.smtpReceived === report.repliesExpected,
      `the SMTP server took ${report.smtpReceived} replies, ${report.repliesExpected} expected`,
    );
    expect(
      mailbox.length === report.smtpReceived,
      `Dovecot holds ${mailbox.length} messages, the SMTP server delivered ${report.smtpReceived}`,
    );
    const distinct = new Set(report.replies.map((r) => r.messageId));
    expect(distinct.size === report.replies.length, "a reply is in the mailbox twice");
    for (const index of withFindings) {
      const patch = planned.patches.find((p) => p.index === index);
      const under = report.replies.filter((r) => r.threadedUnder === patch?.messageId);
      expect(
        under.length === 1,
        `${under.length} replies threaded under patch ${index}/${planned.total}`,
      );
      for (const reply of under) {
        expect(reply.inReplyTo === patch?.messageId, `In-Reply-To of ${reply.messageId}`);
        expect(
          reply.references.at(-1) === patch?.messageId &&
            (planned.coverMessageId === null || reply.references.includes(planned.coverMessageId)),
          `References of ${reply.messageId}: ${reply.references.join(" ")}`,
        );
        expect(reply.subject === `Re: ${patch?.subject}`, `subject of ${reply.messageId}`);
      }
    }
    for (const reply of report.replies) {
      expect(reply.automated, `${reply.messageId} is not marked Auto-Submitted`);
      expect(reply.messageId.endsWith(`@${BOT_DOMAIN}`), `${reply.messageId} is not the bot's`);
      // The thread's root is the series' cover letter (or first patch).
      let top = nodes.get(reply.messageId);
      while (top?.parent) top = top.parent;
      expect(top?.messageId === planned.id, `${reply.messageId} is not in the series' thread`);
    }

    // Assembling the mailbox with the series changes nothing of the series: no new series,
    // the same patches, and no trailer taken from the bot's "Reported-by:" lines.
    const both = assemble(together);
    const again = both.find((s) => s.id === planned.id);
    expect(
      both.length === alone.length,
      `${both.length} series with the replies, ${alone.length} without`,
    );
    expect(
      JSON.stringify(again?.patches) === JSON.stringify(planned.patches),
      "the replies changed the series' patches or trailers",
    );

    report.issues = github.issues().map((i) => ({
      number: i.number,
      title: i.title,
      state: i.state,
      labels: [...i.labels],
      body: i.body,
    }));
    report.violations = [...github.violations];
    expect(
      report.issues.length === 1,
      `${report.issues.length} issues in the stand-in, 1 expected`,
    );
    const issue = report.issues[0];
    expect(
      issue?.state === "open" && issue.title.includes(planned.subject),
      `issue ${issue?.title ?? "(none)"} (${issue?.state ?? "-"})`,
    );
    expect(report.violations.length === 0, `OpenAPI violations: ${report.violations.join("; ")}`);
    return report;
  } finally {
    say("tearing down");
    if (serve && serve.proc.exitCode === null && serve.proc.signalCode === null) {
      serve.proc.kill("SIGTERM");
      const { code } = await serve.exited(Date.now());
      if (code !== 0) failures.push(`hypwatch serve exited with ${code} on SIGTERM`);
    }
    await smtp?.close();
    await github?.close();
    await dovecot?.stop();
    await lore?.stop();
    await dropKeys(redis, prefix);
    redis.disconnect();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The run as text: times, counts, then the reply and the issue body to paste as samples. */
export function formatReplyRunReport(report: ReplyRunReport): string {
  const { times } = report;
  const since = (at: number | null) => (at === null ? "never" : secs(at - times.arrived));
  const issue = report.issues[0];
  const lines = [
    `series:            ${report.series.subject} (${report.series.patches} patches, ${report.series.id})`,
    `verdict:           ${report.verdict ? `${report.verdict.kind}, ${report.verdict.findings} findings, in patch ${report.verdict.patches.join(", ")}` : "none"}`,
    ...(report.verdict?.checkMs
      ? [
          `check:             ${secs(report.verdict.checkMs)} (base findings ${report.verdict.baseReused ? "reused" : "built"})`,
        ]
      : []),
    `arrival -> ingested (lore poll):    ${since(times.ingested)}`,
    `arrival -> verdict:                 ${since(times.verdict)}`,
    `arrival -> reply in Dovecot:        ${since(times.replyInDovecot)}`,
    `arrival -> issue in the stand-in:   ${since(times.issue)}`,
    `replies: expected ${report.repliesExpected}, SMTP took ${report.smtpReceived}, read back over IMAP ${report.replies.length} (distinct ${new Set(report.replies.map((r) => r.messageId)).size})`,
    ...report.replies.map(
      (r) =>
        `  <${r.messageId}> threaded under <${r.threadedUnder ?? "nothing"}> "${r.threadedUnderSubject ?? ""}"`,
    ),
    `issues: ${report.issues.length}${issue ? `; #${issue.number} "${issue.title}" ${issue.state} [${issue.labels.join(", ")}]` : ""}`,
    `OpenAPI violations: ${report.violations.length}`,
    report.failures.length === 0
      ? "every expectation held"
      : `FAILED:\n${report.failures.map((f) => `  - ${f}`).join("\n")}`,
  ];
  for (const reply of report.replies)
    lines.push("", `----- reply <${reply.messageId}> -----`, reply.text);
  if (issue) lines.push("", `----- issue #${issue.number}: ${issue.title} -----`, issue.body);
  return `${lines.join("\n")}\n`;
}
