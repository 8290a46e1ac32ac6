import { describe, expect, it } from "vitest";
import { gicv2Result } from "../../test/report-context.js";
import { renderCheckText } from "./check.js";

describe("renderCheckText (the GICv2 example, real check output)", () => {
  it("counts causes and lists each with its findings under it", async () => {
    const text = renderCheckText(await gicv2Result());
    expect(text).toMatch(/^hypwatch: 1 error \(3 findings\) introduced by v1 /);
    expect(text).toContain(
      "  error hyp/undefined-symbol, hyp/unmapped-section: " +
        "arch/arm64/kvm/hyp/include/hyp/switch.h:448 in kvm_hyp_handle_dabt_low()\n" +
        "    symbols: ___ratelimit, _printk\n" +
        "    section: .data (_rs.1) in switch.nvhe.o, not mapped at EL2\n" +
        "    3 findings:\n" +
        "      error hyp/undefined-symbol: ",
    );
    expect(text.match(/^ {2}error /gm)).toHaveLength(1);
  });
});
