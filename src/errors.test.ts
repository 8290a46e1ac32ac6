import { describe, expect, it } from "vitest";
import { CompilerMissingError } from "./apply/build.js";
import { ConfigureError, TreeError, UnknownEraError } from "./apply/types.js";
import { CheckInputError } from "./check/types.js";
import { errorKind, HypwatchError, type ErrorKind } from "./errors.js";
import { SourceError } from "./intake/errors.js";
import { BinutilsError } from "./io/binutils.js";
import { GitArchiveError } from "./io/git-archive.js";
import { GitError } from "./io/git.js";
import { LockTimeoutError } from "./io/lock.js";
import { SandboxUnavailableError } from "./io/sandbox.js";
import { ExtractError } from "./io/tar.js";
import { UntrustedFileError } from "./io/untrusted.js";
import { MailParseError } from "./mail/types.js";
import { NoSeriesError } from "./pipeline/select.js";
import { ThreadLimitError } from "./series/threads.js";

const failedGit = { command: "git", exitCode: 128, stdout: "", stderr: "", timedOut: false };

/** Every error class hypwatch exports, as its code raises it, with the kind a worker acts on. */
const cases: [HypwatchError, string, ErrorKind][] = [
  [new MailParseError("a.eml", "x@y", "no body"), "MailParseError", "permanent"],
  [new SourceError("not-found", "/x.mbox", "cannot open"), "SourceError", "permanent"],
  [new SourceError("read-failed", "/x.mbox", "EIO", "/x.mbox#3"), "SourceError", "permanent"],
  [new ThreadLimitError("x@y", "too deep"), "ThreadLimitError", "permanent"],
  [new NoSeriesError("/x.mbox", "no patches"), "NoSeriesError", "permanent"],
  [new TreeError("/srv/linux", "not a git repository"), "TreeError", "permanent"],
  [new TreeError("https://h/l.git", "clone failed: timeout", "upstream"), "TreeError", "upstream"],
  [new UnknownEraError("/w"), "UnknownEraError", "permanent"],
  [new ConfigureError("defconfig", "/l", "defconfig failed"), "ConfigureError", "permanent"],
  [new CompilerMissingError("clang-defconfig"), "CompilerMissingError", "permanent"],
  [new SandboxUnavailableError("no user namespaces"), "SandboxUnavailableError", "permanent"],
  [new UntrustedFileError("/b/x.cmd", "is a symlink"), "UntrustedFileError", "permanent"],
  [new CheckInputError("/b/x.o", "no symbols"), "CheckInputError", "permanent"],
  [new BinutilsError("readelf", "x.o", "not an ELF file"), "BinutilsError", "permanent"],
  [new ExtractError("/l.tar.xz", "unexpected EOF"), "ExtractError", "permanent"],
  [
    new GitArchiveError("/e.git", "not a git repository", "permanent"),
    "GitArchiveError",
    "permanent",
  ],
  [new GitArchiveError("/e.git", "git cat-file failed: killed"), "GitArchiveError", "transient"],
  [new GitError(["am"], failedGit), "GitError", "transient"],
  [new LockTimeoutError("/c/slot-0.lock"), "LockTimeoutError", "transient"],
];

describe("error kinds", () => {
  it.each(cases)("%s is a %s error of kind %s", (error, name, kind) => {
    expect(error).toBeInstanceOf(HypwatchError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(name);
    expect(error.kind).toBe(kind);
    expect(errorKind(error)).toBe(kind);
  });

  it("keeps each class's own fields and message", () => {
    const source = new SourceError("over-limit", "/x.mbox", "message over 16 MiB", "/x.mbox#2");
    expect(source).toMatchObject({ code: "over-limit", source: "/x.mbox", origin: "/x.mbox#2" });
    expect(source.message).toBe("/x.mbox#2: message over 16 MiB");
    expect(new TreeError("/t", "no such directory").message).toBe(
      "kernel tree /t: no such directory",
    );
    expect(String(new LockTimeoutError("/l"))).toBe(
      "LockTimeoutError: timed out waiting for lock /l",
    );
  });

  it("takes errors hypwatch did not raise as transient", () => {
    expect(errorKind(new Error("boom"))).toBe("transient");
    expect(errorKind(Object.assign(new Error("x"), { code: "ECONNREFUSED" }))).toBe("transient");
    expect(errorKind(new TypeError("x"))).toBe("transient");
    // A look-alike is not a HypwatchError: only the classes decide what is permanent.
    expect(errorKind(Object.assign(new Error("x"), { kind: "permanent" }))).toBe("transient");
    expect(errorKind("a string")).toBe("transient");
    expect(errorKind(undefined)).toBe("transient");
  });
});
