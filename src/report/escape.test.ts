import { describe, expect, it } from "vitest";
import { configSchema } from "../config.js";
import { scanSource } from "../pipeline/scan.js";
import { writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { HYP_DIFF, mail, mbox } from "../../test/hostile-mail.js";
import { escapeText } from "./escape.js";
import { renderScanTable, summarizeScan } from "./scan.js";

describe("escapeText", () => {
  it("makes ESC, CR, BS, C1 controls and bidi overrides visible", () => {
    expect(escapeText("a\u001b[2Jb\rc\bd\u009be")).toBe("a\\e[2Jb\\rc\\x08d\\x9be");
    expect(escapeText("x\u202eexe.txt\u2066y\u2069")).toBe("x\\u202eexe.txt\\u2066y\\u2069");
    expect(escapeText("back\\slash")).toBe("back\\\\slash");
    expect(escapeText("Grüße, 日本")).toBe("Grüße, 日本");
  });
});

describe("hypwatch scan text output", () => {
  it("shows a hostile subject and author name escaped, never raw", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-escape-"));
    try {
      const file = path.join(dir, "t.mbox");
      // RFC 2047 carries any byte into a decoded subject or name.
      const subject =
        "=?UTF-8?B?" +
        Buffer.from("[PATCH] \u001b]0;pwned\u0007ok\r\u202eevil").toString("base64") +
        "?=";
      const from =
        "=?UTF-8?B?" + Buffer.from("Eve\u001b[31m").toString("base64") + "?= <eve@example.org>";
      await writeFile(file, mbox([mail({ id: "esc@x", subject, from, body: HYP_DIFF })]));
      const result = await scanSource(file, configSchema.parse({}), { workers: 0 });
      const text = renderScanTable(result.series, summarizeScan(result.series, 1, 0));
      for (const raw of ["\u001b", "\r", "\u0007", "\u202e"]) expect(text).not.toContain(raw);
      // Subjects are whitespace-folded when decoded, so the CR arrives as a space.
      expect(text).toContain("\\e]0;pwned\\x07ok \\u202eevil");
      expect(text).toContain("Eve\\e[31m");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
