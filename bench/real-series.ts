/**
 * The real series of a list such as bench/latency-series.json (written by `npm run
 * series:applicable`), read from the corpus archive it names and selected as `hypwatch
 * check --mbox` selects them. Shared by the benchmarks that check real series.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Config } from "../src/config.js";
import { selectSeries, type SelectedSeries } from "../src/pipeline/select.js";
import { corpusPath, mboxOf, rawMailsById } from "../test/corpus.js";

export interface ListedSeries {
  id: string;
  subject: string;
  version: number;
  coverMessageId: string | null;
  patches: string[];
}

/** The series of `list` that `keep` keeps, and their mails, ready to be selected. */
export class RealSeries {
  private constructor(
    readonly series: ListedSeries[],
    private readonly raw: Map<string, Buffer>,
    private readonly scratch: string,
  ) {}

  static async open(
    list: string,
    keep: (all: ListedSeries[]) => ListedSeries[],
  ): Promise<RealSeries> {
    const listed = JSON.parse(await readFile(list, "utf8")) as {
      source: string;
      series: ListedSeries[];
    };
    const series = keep(listed.series);
    const raw = await rawMailsById(corpusPath(listed.source), new Set(series.flatMap(mailIds)));
    const scratch = await mkdtemp(path.join(tmpdir(), "hypwatch-bench-series-"));
    return new RealSeries(series, raw, scratch);
  }

  /** The series of `list` at `indices` (comma-separated, as `--series 13,15` gives them). */
  static byIndex(list: string, indices: string): Promise<RealSeries> {
    return RealSeries.open(list, (all) =>
      indices.split(",").map((i) => {
        const s = all[Number(i)];
        if (!s) throw new Error(`${list}: no series ${i}`);
        return s;
      }),
    );
  }

  /** The series as an mbox of its mails, selected as `hypwatch check --mbox` does. */
  async select(s: ListedSeries, config: Config): Promise<SelectedSeries> {
    const mails = mailIds(s)
      .map((id) => this.raw.get(id))
      .filter((m): m is Buffer => m !== undefined);
    const mbox = path.join(this.scratch, "series.mbox");
    await writeFile(mbox, mboxOf(mails));
    return selectSeries(mbox, config);
  }

  async close(): Promise<void> {
    await rm(this.scratch, { recursive: true, force: true });
  }
}

const mailIds = (s: ListedSeries) => [
  ...(s.coverMessageId ? [s.coverMessageId] : []),
  ...s.patches,
];
