/**
 * `npx tsx bench/parse-mail.ts [archive] [--rounds N]`
 *
 * parseMail alone, on one core: reads the whole archive into memory first (so git is not
 * measured), then parses every message `rounds` times and prints the best round.
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { corpusPath } from "../test/corpus.js";
import { readPublicInbox, type RawMail } from "../src/intake/index.js";
import { MailParseError, parseMail } from "../src/mail/index.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: "string", default: "3" } },
});
const archive = positionals[0] ?? corpusPath("kvmarm-0.git");

const mails: RawMail[] = [];
let bytes = 0;
for await (const raw of readPublicInbox(archive)) {
  mails.push(raw);
  bytes += raw.raw.length;
}

let best = Infinity;
let bestCpu = Infinity;
let patches = 0;
let errors = 0;
const warnings = new Map<string, number>();
for (let round = 0; round < Number(values.rounds); round++) {
  patches = 0;
  errors = 0;
  warnings.clear();
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (const raw of mails) {
    try {
      const mail = await parseMail(raw);
      if (mail.patch !== null) patches++;
      for (const w of mail.warnings) warnings.set(w.kind, (warnings.get(w.kind) ?? 0) + 1);
    } catch (err) {
      if (!(err instanceof MailParseError)) throw err;
      errors++;
    }
  }
  best = Math.min(best, performance.now() - started);
  const used = process.cpuUsage(cpu);
  bestCpu = Math.min(bestCpu, (used.user + used.system) / 1000);
}

console.log(`archive        ${archive}`);
console.log(`messages       ${mails.length} (${Math.round(bytes / 1e6)} MB)`);
console.log(`with a patch   ${patches}`);
console.log(`parse errors   ${errors}`);
console.log(`warnings       ${JSON.stringify(Object.fromEntries(warnings))}`);
// CPU time is what the parse costs; wall time also shows what other work took from us.
console.log(
  `best round     ${(best / 1000).toFixed(2)} s wall, ${(bestCpu / 1000).toFixed(2)} s CPU`,
);
console.log(
  `per message    ${((best / mails.length) * 1000).toFixed(0)} µs wall, ${((bestCpu / mails.length) * 1000).toFixed(0)} µs CPU`,
);
console.log(
  `messages/s     ${Math.round(mails.length / (best / 1000))} wall, ${Math.round(mails.length / (bestCpu / 1000))} per CPU-second`,
);
console.log(
  `load average   ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
