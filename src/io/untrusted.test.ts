import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./exec.js";
import {
  readContained,
  readUntrustedFile,
  removeSpecialFiles,
  UntrustedFileError,
} from "./untrusted.js";

let dir = "";
let outside = "";
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-untrusted-"));
  outside = path.join(os.tmpdir(), `hypwatch-untrusted-secret-${process.pid}`);
  await writeFile(outside, "secret\n");
  await mkdir(path.join(dir, "tree/sub"), { recursive: true });
  await writeFile(path.join(dir, "tree/sub/ok.h"), "#define OK 1\n");
  await symlink(outside, path.join(dir, "tree/sub/evil.h"));
  await symlink("/etc", path.join(dir, "tree/etc-dir"));
  await run("mkfifo", [path.join(dir, "tree/sub/.x.o.cmd")]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(outside, { force: true });
});

describe("reading what a patch or a build wrote", () => {
  it("reads a file inside its directory, and nothing a symlink takes outside", async () => {
    const tree = path.join(dir, "tree");
    expect(await readContained(tree, path.join(tree, "sub/ok.h"))).toBe("#define OK 1\n");
    await expect(readContained(tree, path.join(tree, "sub/evil.h"))).rejects.toThrow(
      /resolves outside/,
    );
    await expect(readContained(tree, path.join(tree, "etc-dir/passwd"))).rejects.toThrow(
      UntrustedFileError,
    );
  });

  it("refuses a symlink, does not block on a FIFO, and bounds the size", async () => {
    await expect(readUntrustedFile(path.join(dir, "tree/sub/evil.h"))).rejects.toThrow(
      /is a symlink/,
    );
    await expect(readUntrustedFile(path.join(dir, "tree/sub/.x.o.cmd"))).rejects.toThrow(
      /not a regular file/,
    );
    await writeFile(path.join(dir, "big"), Buffer.alloc(2048));
    await expect(readUntrustedFile(path.join(dir, "big"), 1024)).rejects.toThrow(
      /2048 bytes, more than 1024/,
    );
  });

  it("removes every symlink and special file of a build directory, and nothing else", async () => {
    const tree = path.join(dir, "tree");
    expect(await removeSpecialFiles(tree)).toBe(3);
    const left = (await readdir(tree, { recursive: true })).sort();
    expect(left).toEqual(["sub", path.join("sub", "ok.h")]);
  });
});
