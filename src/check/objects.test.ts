import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BinutilsError, DEFAULT_CROSS_COMPILE, disassemble, readElf } from "../io/binutils.js";
import { run } from "../io/exec.js";
import { parseDisassembly, parseElfListing } from "./elf.js";
import {
  ObjectMemo,
  OPENS,
  readInstructions,
  readObject,
  readObjects,
  splitByObject,
} from "./objects.js";

/** Assemble `source` with the real cross assembler into `dir/name`. */
async function assemble(dir: string, name: string, source: string): Promise<string> {
  const src = path.join(dir, `${name}.s`);
  await writeFile(src, source);
  const result = await run(`${DEFAULT_CROSS_COMPILE}as`, [src, "-o", path.join(dir, name)]);
  if (result.exitCode !== 0) throw new Error(`as ${src}: ${result.stderr}`);
  return name;
}

const object = (fn: string, callee: string) => `
  .text
  .globl ${fn}
  .type ${fn}, %function
${fn}:
  str x30, [x18], #8
  bl ${callee}
  ldr x30, [x18, #-8]!
  ret
  .section .rodata
  .quad ${callee}
  .section .debug_info
  .quad ${fn}
`;

describe("readObjects and readInstructions", () => {
  it("read many objects together as they read each object alone", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-objects-"));
    // A path the tools' per-object lines would not print plainly is read on its own.
    const names = [
      await assemble(dir, "a.o", object("first", "kfree")),
      await assemble(dir, "b.o", object("second", "schedule")),
      await assemble(dir, "with space.o", object("third", "printk")),
    ];
    const opts = { cwd: dir };
    const together = await readObjects(names, opts);
    const alone = await Promise.all(names.map((n) => readObject(n, opts)));
    expect(together).toEqual(alone);
    expect(together.map((o) => o.path)).toEqual(names);
    expect(together[1]?.symbols.some((s) => s.name === "schedule" && s.ndx === "UND")).toBe(true);
    // .rodata's relocation is kept; debug information's are left out.
    expect(together[0]?.relocations.map((r) => [r.section, r.symbol])).toEqual([
      [".text", "kfree"],
      [".rodata", "kfree"],
    ]);

    // The plain paths were read by one readelf, cut at its `File:` lines.
    const plain = names.slice(0, 2);
    const parts = splitByObject(await readElf(plain, opts), plain, OPENS.readelf);
    expect(parts?.map(parseElfListing)).toEqual(
      alone.slice(0, 2).map(({ path: _, ...rest }) => rest),
    );
    const listings = splitByObject(await disassemble(plain, opts), plain, OPENS.objdump);
    expect(listings?.map(parseDisassembly)).toHaveLength(2);
    // A cut that does not find every object's line gives up (the objects are read alone).
    expect(
      splitByObject(await readElf(plain, opts), [...plain].reverse(), OPENS.readelf),
    ).toBeNull();

    const insns = await readInstructions(names, opts);
    const insnsAlone = await Promise.all(
      names.map(async (n) => (await readInstructions([n], opts))[0]),
    );
    expect(insns).toEqual(insnsAlone);
    expect(insns.map((list) => list.map((i) => i.function))).toEqual([
      ["first", "first", "first", "first"],
      ["second", "second", "second", "second"],
      ["third", "third", "third", "third"],
    ]);
  });

  it("name the object a batch failed on", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-objects-"));
    const good = await assemble(dir, "good.o", object("fine", "kfree"));
    await writeFile(path.join(dir, "bad.o"), "not an object");
    const error = await readObjects([good, "bad.o"], { cwd: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinutilsError);
    expect(error).toMatchObject({ tool: "readelf", object: "bad.o" });
  });
});

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

  it("reads together, in one call, only the objects it has not read as they are", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "hypwatch-memo-"));
    for (const name of ["a.o", "b.o", "c.o"]) await writeFile(path.join(dir, name), name);
    const memo = new ObjectMemo();
    const calls: string[][] = [];
    const read = async (paths: readonly string[]) => {
      calls.push([...paths]);
      return paths.map((p) => `${p}#${calls.length}`);
    };
    expect(await memo.getMany("object", ["a.o", "b.o"], { cwd: dir }, read)).toEqual([
      "a.o#1",
      "b.o#1",
    ]);
    await writeFile(path.join(dir, "b.o"), "changed");
    expect(await memo.getMany("object", ["a.o", "b.o", "c.o"], { cwd: dir }, read)).toEqual([
      "a.o#1",
      "b.o#2",
      "c.o#2",
    ]);
    expect(await memo.get("object", "c.o", { cwd: dir }, async () => "again")).toBe("c.o#2");
    expect(calls).toEqual([
      ["a.o", "b.o"],
      ["b.o", "c.o"],
    ]);
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
    await expect(
      memo.getMany("object", ["b.o"], { cwd: dir }, async () => {
        throw new Error("unused");
      }),
    ).resolves.toEqual(["ok"]);
  });
});
