import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { archiveMessages, corpusMbox } from "../../test/series-helpers.js";
import { scanOutput } from "../report/scan.js";
import { SeriesAssembler } from "./index.js";

const DOC = fileURLToPath(new URL("../../docs/json.md", import.meta.url));

/** The field names of each table in the "## scan" section, table by table. */
async function documentedFields(): Promise<string[][]> {
  const text = await readFile(DOC, "utf8");
  const section = text.split(/^## /m).find((s) => s.startsWith("scan"));
  if (!section) throw new Error("docs/json.md has no ## scan section");
  const tables: string[][] = [];
  let current: string[] | null = null;
  for (const line of section.split("\n")) {
    const cell = /^\|\s*`([A-Za-z]+)`\s*\|/.exec(line);
    if (cell?.[1]) {
      current ??= [];
      current.push(cell[1]);
    } else if (current && !line.startsWith("|")) {
      tables.push(current);
      current = null;
    }
  }
  if (current) tables.push(current);
  return tables;
}

describe("docs/json.md ## scan", () => {
  it("documents exactly the fields of scan --json: the wrapper, its summary, a series, a patch, a bot mail", async () => {
    // The SCS v7 thread for a series, and a real stable-queue notice for bot mail.
    const thread = await corpusMbox("threads", "scs-v7", "scs-v7-thread.mbox");
    const notice = await archiveMessages(["f8e3c13ed03ca835f1728a529c357051cb4c8b50"]);
    const assembler = new SeriesAssembler();
    for (const message of [...thread, ...notice]) assembler.add(message);
    const output = scanOutput({
      series: assembler.finish(),
      botMail: assembler.botMail(),
      messages: thread.length + notice.length,
      errors: [],
      lastCommit: null,
    });
    const [series] = output.series;
    const [bot] = output.botMail;
    const [wrapper, summary, seriesFields, patchFields, botFields] = await documentedFields();
    expect(wrapper?.sort()).toEqual(Object.keys(output).sort());
    expect(summary?.sort()).toEqual(Object.keys(output.summary).sort());
    expect(seriesFields?.sort()).toEqual(Object.keys(series ?? {}).sort());
    expect(patchFields?.sort()).toEqual(Object.keys(series?.patches[0] ?? {}).sort());
    expect(botFields?.sort()).toEqual(Object.keys(bot ?? {}).sort());
  });
});
