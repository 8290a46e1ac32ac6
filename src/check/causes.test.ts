import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { gicv2Context, gicv2Result, pkvmContext } from "../../test/report-context.js";
import { parseMail } from "../mail/index.js";
import type { CheckResult } from "../shapes/check.js";
import type { ReportContext } from "../shapes/report.js";
import { changedLines, groupByCause, type ChangedFile } from "./causes.js";
import { RULES, type AttributedFinding } from "./types.js";

/** Each patch's diff of an example thread, in series order. */
function diffsOf(context: ReportContext): ChangedFile[][] {
  return context.current.series.patches.map((p) => context.posts.get(p.messageId)?.files ?? []);
}

const MAKEFILE = "arch/arm64/kvm/hyp/nvhe/Makefile";
const IMAGE_VARS = "arch/arm64/kernel/image-vars.h";

function finding(over: Partial<AttributedFinding>): AttributedFinding {
  return {
    rule: RULES.undefinedSymbol,
    severity: "error",
    kind: "symbol",
    symbol: "kfree",
    file: "arch/arm64/kvm/hyp/nvhe/hyp-main.c",
    line: 10,
    function: "handle_trap",
    inlineChain: [],
    config: "defconfig",
    message: "",
    key: `k${Math.random()}`,
    introducedBy: 1,
    fixedBy: null,
    ...over,
  };
}

/** A diff of one file: `lines` as a hunk body starting at `start` on both sides. */
function diff(file: string, start: number, lines: string[]): ChangedFile {
  return {
    oldPath: file,
    newPath: file,
    hunks: [{ oldStart: start, oldLines: 0, newStart: start, newLines: 0, section: "", lines }],
  };
}

describe("changedLines", () => {
  it("numbers added lines after the patch and removed ones before it", () => {
    const lines = changedLines([diff(MAKEFILE, 10, [" a", "-b", "+c", "+d", " e"])]);
    expect(lines).toEqual([
      { file: MAKEFILE, line: 11, text: "b", change: "removed" },
      { file: MAKEFILE, line: 11, text: "c", change: "added" },
      { file: MAKEFILE, line: 12, text: "d", change: "added" },
    ]);
  });
});

describe("groupByCause on real check output", () => {
  it("makes one pr_warn_ratelimited() line one cause: both symbols and the ratelimit state", async () => {
    const result = await gicv2Result();
    const { causes, findings } = groupByCause(result.findings, diffsOf(await gicv2Context()));
    expect(result.findings).toHaveLength(3);
    expect(causes).toHaveLength(1);
    const [cause] = causes;
    expect(cause).toMatchObject({
      kind: "line",
      introducedBy: 2,
      file: "arch/arm64/kvm/hyp/include/hyp/switch.h",
      line: 448,
      change: "added",
      function: "kvm_hyp_handle_dabt_low",
      symbols: ["___ratelimit", "_printk"],
      sections: [
        { name: ".data", object: "arch/arm64/kvm/hyp/nvhe/switch.nvhe.o", contents: ["_rs.1"] },
      ],
      objects: ["arch/arm64/kvm/hyp/nvhe/switch.nvhe.o"],
    });
    expect(cause?.text).toContain("pr_warn_ratelimited(");
    expect(findings.map((f) => f.cause)).toEqual([cause?.id, cause?.id, cause?.id]);
    expect(cause?.findings).toEqual(result.findings.map((f) => f.key));
  });

  it("finds the same cause without the diff, at the line the findings are written", async () => {
    const { causes } = groupByCause((await gicv2Result()).findings);
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({ line: 448, change: null, text: null });
    expect(causes[0]?.sections[0]?.contents).toEqual(["_rs.1"]);
  });

  it("reaches the patch's line through the inline chain", async () => {
    const context = await pkvmContext();
    const result = context.current.verdict.result;
    const { causes } = groupByCause(result?.findings ?? [], diffsOf(context));
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({
      file: "arch/arm64/kvm/hyp/nvhe/mem_protect.c",
      line: 555,
      change: "added",
      function: "hyp_complete_share",
      symbols: ["memstart_addr"],
    });
  });
});

const FIXTURES = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../test/fixtures/causes",
);

/**
 * A mutation case as `bench:mutations --results` kept it: the check JSON hypwatch printed
 * on linux 6.1 (its `causes` left out: they are what is tested) and the case's one patch.
 */
async function benchCase(name: string): Promise<{ result: CheckResult; diff: ChangedFile[] }> {
  const text = await readFile(path.join(FIXTURES, `${name}.check.json`), "utf8");
  const raw = await readFile(path.join(FIXTURES, `${name}.patch`));
  const mail = await parseMail({ raw, origin: name });
  return { result: JSON.parse(text) as CheckResult, diff: mail.patch?.files ?? [] };
}

describe("groupByCause on the mutation benchmark's real check output", () => {
  it("makes the dropped KASAN_SANITIZE line one cause of 20 objects and 11 sections", async () => {
    const { result, diff } = await benchCase("instr-kasan");
    expect(result.findings).toHaveLength(31);
    const { causes } = groupByCause(result.findings, [diff]);
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({
      id: "1:arch/arm64/kvm/hyp/nvhe/Makefile:-104",
      kind: "makefile",
      change: "removed",
      text: "KASAN_SANITIZE\t:= n",
      rules: ["hyp/instrumentation", "hyp/unmapped-section"],
      instrumentation: ["kasan"],
    });
    expect(causes[0]?.objects).toHaveLength(20);
    expect(causes[0]?.sections).toHaveLength(11);
  });

  it("makes a reverted alias one cause of every reference it leaves and the ld error", async () => {
    const { result, diff } = await benchCase("alias-revert-vgic-global-state");
    const { causes } = groupByCause(result.findings, [diff]);
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({
      kind: "alias",
      file: "arch/arm64/kernel/image-vars.h",
      change: "removed",
      text: "KVM_NVHE_ALIAS(kvm_vgic_global_state);",
      symbols: ["kvm_vgic_global_state"],
      rules: ["hyp/link-error", "hyp/undefined-symbol"],
    });
    expect(causes[0]?.findings).toHaveLength(5);
  });

  it("makes an added alias that ld rejects one cause at its image-vars.h line", async () => {
    const { result, diff } = await benchCase("alias-hyp-undefined-target");
    expect(result.findings.map((f) => f.rule)).toEqual(["hyp/link-error", "hyp/new-alias"]);
    const { causes } = groupByCause(result.findings, [diff]);
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({
      kind: "alias",
      change: "added",
      text: "KVM_NVHE_ALIAS_HYP(memchr, __pi_memchr);",
      symbols: ["__pi_memchr"],
    });
  });

  it("makes the pr_warn_ratelimited() line one cause of both symbols and its state", async () => {
    const { result, diff } = await benchCase("nvhe-ratelimited");
    const { causes } = groupByCause(result.findings, [diff]);
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({
      file: "arch/arm64/kvm/hyp/nvhe/tlb.c",
      change: "added",
      symbols: ["___ratelimit", "_printk"],
      sections: [{ name: ".data", object: "arch/arm64/kvm/hyp/nvhe/tlb.nvhe.o" }],
    });
  });
});

describe("groupByCause", () => {
  it("makes a removed Makefile guard one cause of every instrumented object and its sections", () => {
    const objects = ["hyp-main", "switch", "tlb"].map((o) => `arch/arm64/kvm/hyp/nvhe/${o}.nvhe.o`);
    const guard = { file: MAKEFILE, line: null, text: null, present: false, note: "" };
    const findings = [
      ...objects.map((object) =>
        finding({
          rule: RULES.instrumentation,
          kind: "instrumentation",
          symbol: "kasan",
          object,
          file: object,
          line: null,
          function: null,
          makefile: guard,
        }),
      ),
      ...objects.slice(1).map((object) =>
        finding({
          rule: RULES.unmappedSection,
          kind: "section",
          symbol: ".data",
          object,
          file: object,
          line: null,
          function: null,
          contents: [],
        }),
      ),
    ];
    const patch = [
      diff(MAKEFILE, 20, [" GCOV_PROFILE\t:= n", "-KASAN_SANITIZE\t:= n", " UBSAN_SANITIZE\t:= n"]),
    ];
    const { causes } = groupByCause(findings, [patch]);
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({
      id: `1:${MAKEFILE}:-21`,
      kind: "makefile",
      line: 21,
      change: "removed",
      text: "KASAN_SANITIZE\t:= n",
      instrumentation: ["kasan"],
      objects,
    });
    expect(causes[0]?.sections).toHaveLength(2);
  });

  it("without the diff, groups an instrumentation by the guard the Makefile lacks", () => {
    const guard = { file: MAKEFILE, line: null, text: null, present: false, note: "" };
    const instrumented = (symbol: string, object: string) =>
      finding({
        rule: RULES.instrumentation,
        kind: "instrumentation",
        symbol,
        object,
        file: object,
        line: null,
        function: null,
        makefile: guard,
      });
    const { causes } = groupByCause([
      instrumented("kasan", "a.nvhe.o"),
      instrumented("kasan", "b.nvhe.o"),
      instrumented("ubsan", "a.nvhe.o"),
    ]);
    expect(causes.map((c) => [c.id, c.objects.length])).toEqual([
      [`1:${MAKEFILE}#kasan`, 2],
      [`1:${MAKEFILE}#ubsan`, 1],
    ]);
  });

  it("makes a reverted alias one cause of every reference it leaves undefined", () => {
    const findings = ["a", "b", "c"].map((fn, i) =>
      finding({ symbol: "kvm_vgic_global_state", function: fn, line: 100 + i }),
    );
    const patch = [diff(IMAGE_VARS, 65, [" ", "-KVM_NVHE_ALIAS(kvm_vgic_global_state);", " "])];
    const { causes, findings: grouped } = groupByCause(findings, [patch]);
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({
      kind: "alias",
      file: IMAGE_VARS,
      line: 66,
      change: "removed",
    });
    expect(new Set(grouped.map((f) => f.cause))).toEqual(new Set([causes[0]?.id]));
  });

  it("keeps a section the patch declares apart from another cause in the same object", () => {
    const object = "arch/arm64/kvm/hyp/nvhe/hyp-main.nvhe.o";
    const file = "arch/arm64/kvm/hyp/nvhe/hyp-main.c";
    const findings = [
      finding({ symbol: "_printk", line: 30, object }),
      finding({
        rule: RULES.unmappedSection,
        kind: "section",
        symbol: ".data..read_mostly",
        object,
        file,
        line: null,
        function: null,
        contents: ["hits"],
      }),
    ];
    const patch = [
      diff(file, 5, ["+static int hits __read_mostly;"]),
      diff(file, 30, ['+\tprintk("x");']),
    ];
    const { causes } = groupByCause(findings, [patch]);
    expect(causes.map((c) => [c.line, c.symbols, c.sections.map((s) => s.name)])).toEqual([
      [5, [], [".data..read_mostly"]],
      [30, ["_printk"], []],
    ]);
  });

  it("keeps one cause per patch and per line", () => {
    const findings = [
      finding({ symbol: "kfree", line: 10 }),
      finding({ symbol: "kfree", line: 20, function: "other" }),
      finding({ symbol: "kfree", line: 10, introducedBy: 2 }),
    ];
    expect(groupByCause(findings).causes.map((c) => c.id)).toEqual([
      "1:arch/arm64/kvm/hyp/nvhe/hyp-main.c:10",
      "1:arch/arm64/kvm/hyp/nvhe/hyp-main.c:20",
      "2:arch/arm64/kvm/hyp/nvhe/hyp-main.c:10",
    ]);
  });
});

describe("outlined helpers", () => {
  it("a reference in an outlined header helper is caused by the call the patch added", () => {
    // gcc emitted the header's static inline helper once in the object; the patch changed
    // none of its lines, but added a call to it in switch.c.
    const SWITCH = "arch/arm64/kvm/hyp/nvhe/switch.c";
    const helper = finding({
      symbol: "dump_stack",
      file: "arch/arm64/kvm/hyp/include/hyp/fault.h",
      line: 70,
      function: "__get_fault_info",
      inlineChain: [
        { function: "__get_fault_info", file: "arch/arm64/kvm/hyp/include/hyp/fault.h", line: 70 },
      ],
      callers: [
        [{ function: "kvm_hyp_handle_dabt_low", file: SWITCH, line: 200 }],
        [{ function: "kvm_hyp_handle_iabt_low", file: SWITCH, line: 230 }],
      ],
    });
    const { causes } = groupByCause(
      [helper],
      [[diff(SWITCH, 230, ["+\tif (!__get_fault_info(esr, &f))"])]],
    );
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({
      file: SWITCH,
      line: 230,
      function: "kvm_hyp_handle_iabt_low",
    });
  });
});

describe("an object the patch stops building", () => {
  it("is the cause of the references it defined, however many lines use them", () => {
    // linux 6.1 with `hyp-obj-$(CONFIG_DEBUG_LIST) += list_debug.o` removed (DEBUG_LIST on).
    const LIST = "include/linux/list.h";
    const added = finding({
      symbol: "__list_add_valid",
      file: LIST,
      line: 72,
      function: "list_add",
    });
    const deleted = finding({
      symbol: "__list_del_entry_valid",
      file: LIST,
      line: 141,
      function: "list_del",
    });
    const { causes } = groupByCause(
      [added, deleted],
      [[diff(MAKEFILE, 28, ["-hyp-obj-$(CONFIG_DEBUG_LIST) += list_debug.o"])]],
    );
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({
      kind: "makefile",
      file: MAKEFILE,
      line: 28,
      change: "removed",
    });
    expect(causes[0]?.symbols).toEqual(["__list_add_valid", "__list_del_entry_valid"]);
  });
});
