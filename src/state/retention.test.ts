import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testPolicy } from "../../test/policy.js";
import { gicv2AsV2, gicv2Mails } from "../../test/report-context.js";
import { cleanCheckRevision } from "../../test/check-result.js";
import { freshStore, type TestStore } from "../../test/state.js";
import { ingestMail } from "../pipeline/ingest.js";
import { updateRevisions, type CheckJobData } from "../pipeline/revisions.js";

/** A row of docs/state.md's key table: the key's pattern, and whether it is kept always. */
interface DocumentedKey {
  pattern: string;
  matches: RegExp;
  kept: boolean;
}

async function documentedKeys(): Promise<DocumentedKey[]> {
  const doc = await readFile(new URL("../../docs/state.md", import.meta.url), "utf8");
  const table = doc.slice(doc.indexOf("| key "), doc.indexOf("\n\n", doc.indexOf("| key ")));
  return table
    .split("\n")
    .slice(2)
    .map((row) => row.split("|").map((cell) => cell.trim()))
    .map(([, key = "", , , kept = ""]) => {
      const pattern = key.replaceAll("`", "");
      const source = pattern
        .split(/<[^>]+>/)
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
        .join("[^:]+");
      return { pattern, matches: new RegExp(`^${source}$`), kept: kept === "always" };
    });
}

describe("what the state keeps and what expires (real Redis, docs/state.md)", () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await freshStore();
    // Every step that writes state: mail stored and assembled, v1 checked, superseded by
    // v2 and v2 checked, a side effect and a command recorded, a rule ignored, a source's
    // checkpoint, a lease held.
    const jobs: CheckJobData[] = [];
    const deps = {
      store: t.store,
      scheduler: {
        schedule: async (job: CheckJobData) => void jobs.push(job),
        cancel: async () => {},
      },
    };
    const check = cleanCheckRevision(t.store);
    for (const mail of await gicv2Mails()) await ingestMail({ store: t.store }, "kvmarm", mail);
    await updateRevisions(deps, testPolicy());
    await check(jobs[0]!);
    for (const mail of await gicv2AsV2()) await ingestMail({ store: t.store }, "kvmarm", mail);
    await updateRevisions(deps, testPolicy());
    await check(jobs[1]!);
    const verdict = (await t.store.verdict(jobs[1]!.checkKey))!;
    await t.store.recordSteps({ ...verdict, kind: "findings" });
    await t.store.recordSideEffect(`reply:verdict:${jobs[1]!.checkKey}`, "<reply@bot>");
    await t.store.recordCommand("command:<ask@x>", null);
    await t.store.ignoreRule("kvmarm", "series@x", "hyp/unmapped-section");
    await t.store.setCheckpoint("kvmarm/maildir", "42");
    await t.store.holdLease("kvmarm/maildir", "me", 30_000);
    expect(jobs).toHaveLength(2);
    expect(await t.store.supersededBy(jobs[0]!.checkKey)).not.toBeNull();
  });
  afterAll(() => t.drop());

  it("holds only documented keys: what must be remembered never expires, a lease does", async () => {
    const documented = await documentedKeys();
    expect(documented.length).toBeGreaterThan(10);
    const base = `${t.prefix}:v1:`;
    const keys: string[] = [];
    for (let cursor = "0"; ;) {
      const [next, found] = await t.redis.scan(cursor, "MATCH", `${t.prefix}:*`, "COUNT", 1000);
      keys.push(...found);
      cursor = next;
      if (cursor === "0") break;
    }
    const seen = new Set<string>();
    for (const key of keys) {
      const ttl = await t.redis.pttl(key);
      if (key === `${t.prefix}:schema`) {
        expect(ttl, key).toBe(-1);
        continue;
      }
      expect(key.startsWith(base), key).toBe(true);
      const row = documented.filter((d) => d.matches.test(key.slice(base.length)));
      expect(
        row.map((r) => r.pattern),
        `${key} is in docs/state.md once`,
      ).toHaveLength(1);
      const [only] = row;
      if (!only) continue;
      seen.add(only.pattern);
      if (only.kept) expect(ttl, `${key} never expires`).toBe(-1);
      else expect(ttl, `${key} expires`).toBeGreaterThan(0);
    }
    // Every documented key was written by the steps above, so each was checked.
    expect([...seen].sort()).toEqual(documented.map((d) => d.pattern).sort());
  });
});
