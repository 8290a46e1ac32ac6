import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../config.js";
import { HYP_DIFF, mail, mbox } from "../../test/hostile-mail.js";
import { scanSource, type ScanError } from "./scan.js";
import { selectSeries } from "./select.js";

const config = configSchema.parse({});
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "hypwatch-select-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("selectSeries reads mail as scan does", () => {
  it("takes the copy of a duplicated Message-ID that scan takes, past an unparseable reply", async () => {
    const file = path.join(dir, "dup.mbox");
    const cover = mail({ id: "c@x", subject: "[PATCH 0/1] fix" });
    // The first copy lost its diff on the way (a mangling list); the second has it.
    const mangled = mail({
      id: "p@x",
      subject: "[PATCH 1/1] fix",
      inReplyTo: "c@x",
      body: "gone\n",
    });
    const whole = mail({ id: "p@x", subject: "[PATCH 1/1] fix", inReplyTo: "c@x", body: HYP_DIFF });
    const hostile = mail({
      id: "r@x",
      subject: "Re: [PATCH 1/100000000000000000000] fix",
      inReplyTo: "p@x",
    });
    await writeFile(file, mbox([cover, mangled, hostile, whole]));

    const scanned = await scanSource(file, config, { workers: 0 });
    const errors: ScanError[] = [];
    const selected = await selectSeries(file, config, { onError: (e) => errors.push(e) });

    expect(scanned.series[0]?.patches[0]?.files).toEqual(["arch/arm64/kvm/hyp/nvhe/switch.c"]);
    expect(selected.series).toEqual(scanned.series[0]);
    expect(selected.patches[0]?.mail.toString()).toContain("diff --git");
    expect(errors.map((e) => e.message)).toEqual(scanned.errors.map((e) => e.message));
    expect(errors[0]?.message).toContain("<r@x>");
  });
});
