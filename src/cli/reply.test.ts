import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { simpleParser } from "mailparser";
import { afterAll, describe, expect, it } from "vitest";
import { kernelTestsAvailable, linuxTree } from "../../test/linux-tree.js";
import { SCS_MBOX } from "../../test/report-context.js";
import { readMbox } from "../intake/index.js";

const available = await kernelTestsAvailable();
const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-cli-reply-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

async function checkReply(config: string): Promise<{ stdout: string; stderr: string }> {
  const file = path.join(dir, "hypwatch.yaml");
  await writeFile(file, config);
  return promisify(execFile)(
    "npx",
    ["tsx", "src/cli/main.ts", "check", "--tree", await linuxTree(), "--mbox", SCS_MBOX, "--reply"],
    { env: { ...process.env, HYPWATCH_CONFIG: file }, maxBuffer: 16 * 1024 * 1024 },
  ).catch((error: { stdout: string; stderr: string }) => error);
}

describe.skipIf(!available)("hypwatch check --reply", () => {
  it("prints the replies the service would send, as an mbox, and sends nothing", async () => {
    const { stdout } = await checkReply("reply: { notApplied: true }\n");
    const file = path.join(dir, "replies.mbox");
    await writeFile(file, stdout);
    const mails = [];
    for await (const raw of readMbox(file)) mails.push(await simpleParser(raw.raw));
    expect(mails.map((m) => [m.subject, m.inReplyTo])).toEqual([
      [
        "Re: [PATCH v7 00/11] add support for Clang's Shadow Call Stack",
        "<20200128184934.77625-1-samitolvanen@google.com>",
      ],
    ]);
    expect(mails[0]?.text).toContain("patch 1/11 does not apply (context-mismatch)");
  }, 120_000);

  it("says why it prints nothing under a quiet policy", async () => {
    const { stdout, stderr } = await checkReply("reply: { mode: list }\n");
    expect(stdout).toBe("");
    expect(stderr).toContain("no reply: the reply policy");
  }, 120_000);
});
