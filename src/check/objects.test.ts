import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ObjectMemo } from "./objects.js";

describe("ObjectMemo", () => {
  it("reads an object again only when its content changed", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-memo-"));
    await writeFile(path.join(dir, "a.o"), "one");
    const memo = new ObjectMemo();
    const reads: string[] = [];
    const read = async (p: string) => {
      reads.push(p);
      return reads.length;
    };
    expect(await memo.get("object", "a.o", { cwd: dir }, read)).toBe(1);
    expect(await memo.get("object", "a.o", { cwd: dir }, read)).toBe(1);
    expect(await memo.get("disassembly", "a.o", { cwd: dir }, read)).toBe(2);
    await writeFile(path.join(dir, "a.o"), "two");
    expect(await memo.get("object", "a.o", { cwd: dir }, read)).toBe(3);
    expect(reads).toEqual(["a.o", "a.o", "a.o"]);
  });

  it("does not remember a failed read", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-memo-"));
    await writeFile(path.join(dir, "b.o"), "x");
    const memo = new ObjectMemo();
    let calls = 0;
    const read = async () => {
      calls++;
      if (calls === 1) throw new Error("readelf failed");
      return "ok";
    };
    await expect(memo.get("object", "b.o", { cwd: dir }, read)).rejects.toThrow("readelf");
    expect(await memo.get("object", "b.o", { cwd: dir }, read)).toBe("ok");
  });
});
