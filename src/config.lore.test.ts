import { describe, expect, it } from "vitest";
import { configSecrets, readConfig } from "./config.js";
import { loreSourceOptions } from "./intake/live/lore.js";

describe("lore configuration", () => {
  it("defaults to lore's /all inbox every 2 minutes, without a contact", () => {
    expect(readConfig({}).lore).toEqual({
      url: "https://lore.kernel.org/all",
      pollIntervalSeconds: 120,
    });
  });

  it("reads the inbox, the poll interval and the contact, and becomes a source's options", () => {
    const config = readConfig({
      HYPWATCH_LORE_URL: "https://lore.kernel.org/kvmarm",
      HYPWATCH_LORE_POLL_INTERVAL: "300",
      HYPWATCH_LORE_CONTACT: "mailto:hypwatch@example.org",
      HYPWATCH_MAX_DECOMPRESSED_BYTES: "1000000",
    });
    expect(config.lore).toEqual({
      url: "https://lore.kernel.org/kvmarm",
      pollIntervalSeconds: 300,
      contact: "mailto:hypwatch@example.org",
    });
    expect(loreSourceOptions(config, "0.1.0")).toMatchObject({
      inboxUrl: "https://lore.kernel.org/kvmarm",
      pollIntervalMs: 300_000,
      contact: "mailto:hypwatch@example.org",
      version: "0.1.0",
      limits: { maxDecompressedBytes: 1_000_000 },
    });
  });

  it("refuses a poll faster than 30 s and an inbox that is not a URL; a token in it is a secret", () => {
    expect(() => readConfig({ HYPWATCH_LORE_POLL_INTERVAL: "5" })).toThrow();
    expect(() => readConfig({ HYPWATCH_LORE_URL: "lore.kernel.org/kvmarm" })).toThrow();
    const config = readConfig({ HYPWATCH_LORE_URL: "https://bot:tok3n@mirror.example/kvmarm" });
    expect(configSecrets(config)).toContain("tok3n");
  });
});
