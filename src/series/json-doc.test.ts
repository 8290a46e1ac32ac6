import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { corpusMbox } from "../../test/series-helpers.js";
import { assembleSeries } from "./index.js";

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
  it("documents exactly the fields a series and its patches have", async () => {
    const [series] = assembleSeries(await corpusMbox("threads", "scs-v7", "scs-v7-thread.mbox"));
    const [seriesFields, patchFields] = await documentedFields();
    expect(seriesFields?.sort()).toEqual(Object.keys(series ?? {}).sort());
    expect(patchFields?.sort()).toEqual(Object.keys(series?.patches[0] ?? {}).sort());
  });
});
