import { readFile, readdir } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { corpusPath } from "../../test/corpus.js";
import { Compressor } from "./compress.js";

const THREAD = corpusPath("threads", "el2-nvhe-wxn-v1");

describe("Compressor", () => {
  it("gzips every mail of concurrent batches on its thread, each back byte for byte", async () => {
    const names = (await readdir(THREAD)).filter((n) => n.endsWith(".eml")).sort();
    const mails = await Promise.all(names.map((n) => readFile(`${THREAD}/${n}`)));
    // Mails as a source hands them on: views into one larger buffer.
    const slab = Buffer.concat(mails);
    let at = 0;
    const views = mails.map((m) => slab.subarray(at, (at += m.length)));
    const compressor = new Compressor();
    const [first, second, none] = await Promise.all([
      compressor.gzip(views.slice(0, 5)),
      compressor.gzip(views.slice(5)),
      compressor.gzip([]),
    ]);
    const out = [...(first ?? []), ...(second ?? [])];
    expect(out).toHaveLength(mails.length);
    out.forEach((gz, i) => expect(gunzipSync(gz).equals(mails[i]!)).toBe(true));
    expect(none).toEqual([]);
    // The caller's buffers are left as they were.
    expect(Buffer.concat(views).equals(slab)).toBe(true);
  });
});
