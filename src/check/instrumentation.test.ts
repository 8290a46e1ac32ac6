import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  constructorInstrumentation,
  enablingFlags,
  isConstructorSection,
  instrumentationOfSection,
  instrumentationOfSymbol,
  makefileGuard,
} from "./instrumentation.js";
import {
  cmdFileOf,
  linkInputs,
  makefileLines,
  parseKbuildCmd,
  treeRelative,
} from "../io/kbuild-files.js";

// Kbuild output and the nVHE Makefile of a linux 6.1 defconfig build.
const fixture = (name: string): string =>
  readFileSync(
    path.join(path.dirname(fileURLToPath(import.meta.url)), "../../test/fixtures/kbuild", name),
    "utf8",
  );
const MAKEFILE = fixture("nvhe.Makefile");
const MK = "arch/arm64/kvm/hyp/nvhe/Makefile";

describe("Kbuild .cmd files", () => {
  it("reads the compiler command and source of an nVHE object", () => {
    const cmd = parseKbuildCmd(fixture("vgic-v3-sr.nvhe.o.cmd"));
    expect(cmd?.target).toBe("arch/arm64/kvm/hyp/nvhe/../vgic-v3-sr.nvhe.o");
    expect(cmd?.argv[0]).toBe("aarch64-linux-gnu-gcc");
    expect(cmd?.argv).toContain("-D__KVM_NVHE_HYPERVISOR__");
    expect(treeRelative(cmd?.source ?? "", "/work/trees/wt-check")).toBe(
      "arch/arm64/kvm/hyp/vgic-v3-sr.c",
    );
  });

  it("names the .cmd file of an object reached through ..", () => {
    expect(cmdFileOf("arch/arm64/kvm/hyp/nvhe/../vgic-v3-sr.nvhe.o")).toBe(
      "arch/arm64/kvm/hyp/.vgic-v3-sr.nvhe.o.cmd",
    );
  });

  it("lists the objects of the nVHE partial link, not the linker script", () => {
    const cmd = parseKbuildCmd(fixture("kvm_nvhe.tmp.o.cmd"));
    const inputs = linkInputs(cmd?.argv ?? []);
    expect(inputs).toHaveLength(31);
    expect(inputs[0]).toBe("arch/arm64/kvm/hyp/nvhe/timer-sr.nvhe.o");
    expect(inputs).toContain("arch/arm64/kvm/hyp/nvhe/../../../lib/memset.nvhe.o");
    expect(inputs.some((i) => i.includes("hyp.lds") || i.endsWith("kvm_nvhe.tmp.o"))).toBe(false);
  });
});

describe("enablingFlags", () => {
  const argv = parseKbuildCmd(fixture("vgic-v3-sr.nvhe.o.cmd"))?.argv ?? [];

  it("honours a later -fno-stack-protector (the nVHE ccflags-y)", () => {
    expect(argv).toContain("-fstack-protector-strong");
    expect(enablingFlags(argv, "stack-protector")).toEqual([]);
    expect(
      enablingFlags(
        argv.filter((a) => a !== "-fno-stack-protector"),
        "stack-protector",
      ),
    ).toEqual(["-fstack-protector-strong"]);
  });

  it("names the sanitizer flags", () => {
    expect(enablingFlags(argv, "shadow-call-stack")).toEqual([]);
    const scs = [...argv, "-ffixed-x18", "-fsanitize=shadow-call-stack"];
    expect(enablingFlags(scs, "shadow-call-stack")).toEqual(["-fsanitize=shadow-call-stack"]);
    const kasan = ["gcc", "-fsanitize=kernel-address", "-fsanitize=bounds,shift"];
    expect(enablingFlags(kasan, "kasan")).toEqual(["-fsanitize=kernel-address"]);
    expect(enablingFlags(kasan, "ubsan")).toEqual(["-fsanitize=bounds,shift"]);
    expect(enablingFlags(["gcc", "-fpatchable-function-entry=2"], "ftrace")).toEqual([
      "-fpatchable-function-entry=2",
    ]);
    expect(enablingFlags(["gcc", "-fsanitize-coverage=trace-pc"], "kcov")).toEqual([
      "-fsanitize-coverage=trace-pc",
    ]);
  });
});

describe("instrumentation of symbols and sections", () => {
  it("classifies the runtime hooks", () => {
    expect(instrumentationOfSymbol("__asan_load8_noabort")).toBe("kasan");
    expect(instrumentationOfSymbol("__hwasan_tag_mismatch")).toBe("kasan");
    expect(instrumentationOfSymbol("__ubsan_handle_out_of_bounds")).toBe("ubsan");
    expect(instrumentationOfSymbol("__sanitizer_cov_trace_pc")).toBe("kcov");
    expect(instrumentationOfSymbol("_mcount")).toBe("ftrace");
    expect(instrumentationOfSymbol("__stack_chk_fail")).toBe("stack-protector");
    expect(instrumentationOfSymbol("kfree")).toBeNull();
    expect(instrumentationOfSection("__patchable_function_entries")).toBe("ftrace");
    expect(instrumentationOfSection(".text")).toBeNull();
    expect(instrumentationOfSymbol("__kasan_check_write")).toBe("kasan");
  });

  it("explains constructor tables by the instrumentation the command enables", () => {
    expect(isConstructorSection(".init_array")).toBe(true);
    expect(isConstructorSection(".fini_array.00099")).toBe(true);
    expect(isConstructorSection(".data")).toBe(false);
    expect(constructorInstrumentation(["gcc", "-O2", "-fsanitize=kernel-address"])).toBe("kasan");
    expect(constructorInstrumentation(["gcc", "-fprofile-arcs", "-ftest-coverage"])).toBe("gcov");
    expect(constructorInstrumentation(["gcc", "-O2"])).toBeNull();
  });
});

describe("makefileGuard on the nVHE Makefile", () => {
  it("finds the filter-out that drops $(CC_FLAGS_SCS)", () => {
    const guard = makefileGuard(MAKEFILE, MK, "shadow-call-stack", "switch.nvhe.o");
    expect(guard).toMatchObject({ present: true, line: 94, file: MK });
    expect(guard.text).toContain("$(CC_FLAGS_SCS)");
  });

  it("points at the filter-out that lacks $(CC_FLAGS_SCS)", () => {
    const mutated = MAKEFILE.replace(" $(CC_FLAGS_SCS)", "");
    const guard = makefileGuard(mutated, MK, "shadow-call-stack", "switch.nvhe.o");
    expect(guard).toMatchObject({ present: false, line: 94 });
    expect(guard.note).toBe(`${MK}:94 filters KBUILD_CFLAGS but not $(CC_FLAGS_SCS)`);
  });

  it("finds KASAN_SANITIZE := n, its absence, and a per-object override", () => {
    expect(makefileGuard(MAKEFILE, MK, "kasan", "mm.nvhe.o")).toMatchObject({
      present: true,
      line: 104,
    });
    const without = MAKEFILE.replace(/^KASAN_SANITIZE\t:= n\n/m, "");
    expect(makefileGuard(without, MK, "kasan", "mm.nvhe.o")).toMatchObject({
      present: false,
      line: null,
    });
    const override = `${MAKEFILE}\nKASAN_SANITIZE_mm.nvhe.o := y\n`;
    const guard = makefileGuard(override, MK, "kasan", "mm.nvhe.o");
    expect(guard.present).toBe(false);
    expect(guard.note).toContain("turns KASAN_SANITIZE back on for mm.nvhe.o");
  });

  it("finds -fno-stack-protector in a continued ccflags-y line", () => {
    expect(makefileGuard(MAKEFILE, MK, "stack-protector", "mm.nvhe.o")).toMatchObject({
      present: true,
      line: 13,
    });
  });

  it("joins continuation lines and drops comments", () => {
    expect(makefileLines("a := b \\\n\tc # note\n# only a comment\nd := e\n")).toEqual([
      { line: 1, text: "a := b c" },
      { line: 4, text: "d := e" },
    ]);
  });
});
