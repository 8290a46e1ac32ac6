import { describe, expect, it } from "vitest";
import { configSchema, configSecrets } from "./config.js";
import { errorName, redact, redactError, registerSecrets } from "./log.js";
import { captureLog } from "../test/log-capture.js";

describe("redact", () => {
  it("removes the user info of URLs, whatever the scheme", () => {
    expect(redact("fatal: https://user:token@example.invalid/linux.git")).toBe(
      "fatal: https://[redacted]@example.invalid/linux.git",
    );
    expect(redact("redis://:s3cret@127.0.0.1:6399/0")).toBe("redis://[redacted]@127.0.0.1:6399/0");
    expect(redact("git@github.com:torvalds/linux.git")).toBe("git@github.com:torvalds/linux.git");
  });

  it("keeps Message-IDs and addresses in URL paths and mail", () => {
    const text = "https://lore.kernel.org/r/20200128184934.77625-1-samitolvanen@google.com <a@b.c>";
    expect(redact(text)).toBe(text);
  });

  it("removes authorization headers, secret query parameters and token formats", () => {
    expect(redact("Authorization: Bearer abc.def")).toBe("Authorization: Bearer [redacted]");
    expect(redact("GET /x?access_token=abc&page=2")).toBe("GET /x?access_token=[redacted]&page=2");
    expect(redact(`token ghp_${"a".repeat(36)} used`)).toBe("token [redacted] used");
  });

  it("removes configured secrets wherever they appear, bare, URL-encoded or JSON-escaped", () => {
    const password = 'pw"with/odd$chars';
    registerSecrets(
      configSecrets(
        configSchema.parse({ redisUrl: `redis://:${encodeURIComponent(password)}@h:1` }),
      ),
    );
    expect(redact(`command: { args: ['AUTH', 'default', '${password}'] }`)).not.toContain(password);
    expect(redact(JSON.stringify({ args: [password] }))).not.toContain("with/odd");
    expect(redact(encodeURIComponent(password))).toBe("[redacted]");
  });

  it("takes a lone URL user name as the secret, and keeps the user of user:password", () => {
    const config = configSchema.parse({ tree: "https://ghtoken123@example.invalid/l.git" });
    expect(configSecrets(config)).toContain("ghtoken123");
    expect(configSecrets(configSchema.parse({ tree: "https://alice:tok@h/l.git" }))).toEqual([
      "tok",
      "tok",
    ]);
  });
});

describe("logger", () => {
  it("writes static messages with fields, child fields included, and redacts every line", () => {
    const { log, lines, raw } = captureLog();
    registerSecrets(["sekrit-value"]);
    log
      .child({ queue: "hypwatch-scan", jobId: "7" })
      .warn(
        { durationMs: 12, err: new Error("clone of https://u:sekrit-value@h/x.git failed") },
        "job failed",
      );
    expect(lines()).toEqual([
      expect.objectContaining({
        msg: "job failed",
        queue: "hypwatch-scan",
        jobId: "7",
        durationMs: 12,
        err: {
          kind: "transient",
          name: "Error",
          message: "clone of https://[redacted]@h/x.git failed",
        },
      }),
    ]);
    log.info({ note: "plain sekrit-value in a field" }, "anything");
    expect(raw.join("")).not.toContain("sekrit-value");
  });

  it("names errors by system code, else class", () => {
    expect(errorName(Object.assign(new Error("x"), { code: "ECONNREFUSED" }))).toBe("ECONNREFUSED");
    expect(errorName(new TypeError("x"))).toBe("TypeError");
  });

  it("redacts an error's message and stack and keeps its class", () => {
    const error = redactError(new RangeError("at redis://:pw12345@h"));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe("at redis://[redacted]@h");
    expect(error.stack).not.toContain("pw12345");
  });
});
