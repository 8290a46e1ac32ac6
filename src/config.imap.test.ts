import { describe, expect, it } from "vitest";
import { configSecrets, readConfig } from "./config.js";

describe("IMAP configuration", () => {
  it("is absent without a host", () => {
    expect(readConfig({}).imap).toBeUndefined();
  });

  it("reads host, port, TLS, user, password and mailbox, and the password is a secret", () => {
    const config = readConfig({
      HYPWATCH_IMAP_HOST: "imap.example.org",
      HYPWATCH_IMAP_PORT: "143",
      HYPWATCH_IMAP_TLS: "off",
      HYPWATCH_IMAP_USER: "reader",
      HYPWATCH_IMAP_PASSWORD: "imap-secret-1",
      HYPWATCH_IMAP_MAILBOX: "lists/kvmarm",
    });
    expect(config.imap).toEqual({
      host: "imap.example.org",
      port: 143,
      tls: false,
      user: "reader",
      password: "imap-secret-1",
      mailbox: "lists/kvmarm",
    });
    expect(configSecrets(config)).toContain("imap-secret-1");
  });

  it("defaults to TLS on 993 and INBOX, and refuses a host without credentials", () => {
    const config = readConfig({
      HYPWATCH_IMAP_HOST: "imap.example.org",
      HYPWATCH_IMAP_USER: "reader",
      HYPWATCH_IMAP_PASSWORD: "imap-secret-2",
    });
    expect(config.imap).toMatchObject({ port: 993, tls: true, mailbox: "INBOX" });
    expect(() => readConfig({ HYPWATCH_IMAP_HOST: "imap.example.org" })).toThrow();
  });
});
