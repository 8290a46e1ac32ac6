/**
 * Assemble the series of a whole archive (default: the corpus kvmarm list) through the
 * streaming `SeriesAssembler`, and print counts, time and memory as one JSON line.
 *
 *   npx tsx --expose-gc scripts/series-archive.ts [public-inbox epoch or mbox]
 */
import { readSource, type SourceError } from "../src/intake/index.js";
import { MailParseError, parseMail } from "../src/mail/index.js";
import { SeriesAssembler } from "../src/series/index.js";
import { corpusPath } from "../test/corpus.js";

const source = process.argv[2] ?? corpusPath("kvmarm-0.git");
const started = Date.now();
const assembler = new SeriesAssembler();
let messages = 0;
let parseErrors = 0;
let sourceErrors = 0;
// A message that cannot be read (a blob missing from the mirror) is named and counted.
const onError = (error: SourceError): void => {
  sourceErrors++;
  console.error(`hypwatch: ${error.message}`);
};
for await (const raw of readSource(source, { onError })) {
  messages++;
  try {
    assembler.add(await parseMail(raw));
  } catch (error) {
    if (!(error instanceof MailParseError)) throw error;
    parseErrors++;
    console.error(error.message);
  }
}
const read = Date.now();
(globalThis as { gc?: () => void }).gc?.();
const heldMB = Math.round(process.memoryUsage().heapUsed / 1e6);
const series = assembler.finish();
console.log(
  JSON.stringify({
    source,
    messages,
    parseErrors,
    sourceErrors,
    distinctMessageIds: assembler.size,
    readAndParseSeconds: (read - started) / 1000,
    assembleSeconds: (Date.now() - read) / 1000,
    heapAfterReadingMB: heldMB,
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    series: series.length,
    complete: series.filter((s) => s.complete).length,
    withCover: series.filter((s) => s.coverMessageId !== null).length,
    relevant: series.filter((s) => s.relevant).length,
    newest: series.filter((s) => s.newest).length,
    withRevisions: series.filter((s) => s.revisions.length > 0).length,
  }),
);
