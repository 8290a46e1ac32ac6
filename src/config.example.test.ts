import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CONFIG_ENV, readConfig, sourceId } from "./config.js";

const EXAMPLE = fileURLToPath(new URL("../examples/hypwatch.yaml", import.meta.url));
const DOC = fileURLToPath(new URL("../docs/config.md", import.meta.url));

/** The example with its commented-out settings (`# key: value`, `# - type: x`) in force. */
function uncommented(text: string): string {
  return text.replace(/^(\s*)# (\s*(?:- )?[A-Za-z]+:(?: .*)?)$/gm, "$1$2");
}

describe("examples/hypwatch.yaml", () => {
  it("is valid: kvmarm read from lore, applied to mainline", () => {
    const config = readConfig({}, EXAMPLE);
    expect(config.tree).toBe("https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git");
    expect(config.lists.map((list) => [list.name, list.sources.map(sourceId)])).toEqual([
      ["kvmarm", ["lore:https://lore.kernel.org/kvmarm"]],
    ]);
  });

  it("stays valid with its commented-out alternatives in force", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "hypwatch-example-"));
    try {
      const file = path.join(dir, "hypwatch.yaml");
      await writeFile(file, uncommented(readFileSync(EXAMPLE, "utf8")));
      const config = readConfig({}, file);
      expect(config.lists[0]?.sources.map((s) => s.type)).toEqual(["lore", "epochs", "imap"]);
      expect(config.lists[0]?.baseCandidates).toEqual(["next", "master"]);
      expect(config.lore.contact).toBeDefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("docs/config.md", () => {
  it("names every environment variable and the key it sets", () => {
    const doc = readFileSync(DOC, "utf8");
    for (const [name, key] of CONFIG_ENV) {
      expect(doc, name).toContain(`\`${name}\``);
      expect(doc, key).toContain(`\`${key}\``);
    }
  });
});
