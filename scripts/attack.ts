import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { AttackCase } from "./attack/types.js";

/**
 * `npm run attack [-- <filter>]`: every attack of scripts/attack/*.ts (each module's
 * exported `...Attacks` lists), run one after the other, as a table of attack and outcome.
 * Exits 1 when any defence did not hold. Run it as the user hypwatch runs as (root, for
 * the documented compose worker).
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? "";

async function allAttacks(): Promise<{ cases: AttackCase[]; teardown: (() => Promise<void>)[] }> {
  const cases: AttackCase[] = [];
  const teardown: (() => Promise<void>)[] = [];
  const dir = path.join(here, "attack");
  for (const file of (await readdir(dir)).filter((f) => f.endsWith(".ts")).sort()) {
    const mod = (await import(pathToFileURL(path.join(dir, file)).href)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) {
      if (name.endsWith("Attacks") && Array.isArray(value)) cases.push(...(value as AttackCase[]));
      if (/^tearDown/.test(name) && typeof value === "function")
        teardown.push(value as () => Promise<void>);
    }
  }
  return { cases, teardown };
}

const { cases, teardown } = await allAttacks();
const chosen = cases.filter((c) => `${c.kind} ${c.name}`.includes(filter));
console.log(`hypwatch attack run as uid ${process.geteuid?.() ?? "?"}: ${chosen.length} attacks\n`);
const rows: string[][] = [];
let failed = 0;
for (const c of chosen) {
  const started = Date.now();
  const outcome = await c.run().catch((error: unknown) => ({
    held: false,
    outcome: `the attack run itself failed: ${error instanceof Error ? error.message : String(error)}`,
  }));
  if (!outcome.held) failed++;
  const s = ((Date.now() - started) / 1000).toFixed(1);
  const row = [c.kind, c.name, outcome.held ? "held" : "BROKEN", `${s} s`, outcome.outcome];
  rows.push(row);
  console.log(row.join(" | "));
}
for (const t of teardown) await t();
console.log(`\n| kind | attack | defence | time | outcome |\n| --- | --- | --- | --- | --- |`);
for (const r of rows) console.log(`| ${r.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`);
const held = chosen.length - failed;
console.log(`\n${held} of ${chosen.length} defences held; ${failed} broken.`);
process.exit(failed === 0 ? 0 : 1);
