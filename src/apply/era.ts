import { access } from "node:fs/promises";
import { readContained } from "../io/untrusted.js";
import path from "node:path";
import { UnknownEraError, type Era } from "./types.js";

const NVHE_MAKEFILE = "arch/arm64/kvm/hyp/nvhe/Makefile";
const KVM_HYP_H = "arch/arm64/include/asm/kvm_hyp.h";

/** Make targets that build exactly the hyp objects of an era (plus what the analysis reads). */
export const HYP_TARGETS: Record<Era, readonly string[]> = {
  // The nVHE and VHE directories build their shared ../*.o and ../../../lib/*.o themselves;
  // vmlinux.lds is cheap and holds the preprocessed KVM_NVHE_ALIAS list.
  modern: ["arch/arm64/kvm/hyp/nvhe/", "arch/arm64/kvm/hyp/vhe/", "arch/arm64/kernel/vmlinux.lds"],
  legacy: ["arch/arm64/kvm/hyp/", "virt/kvm/arm/hyp/", "arch/arm64/kvm/hyp-init.o"],
};

/**
 * What the nVHE analysis reads, and no more: the nVHE objects (with the shared objects they
 * build) and the alias list. A legacy tree has no separate nVHE code.
 */
export const NVHE_TARGETS: Record<Era, readonly string[]> = {
  modern: ["arch/arm64/kvm/hyp/nvhe/", "arch/arm64/kernel/vmlinux.lds"],
  legacy: HYP_TARGETS.legacy,
};

/** Which era a kernel source tree is in, from its files. */
export async function detectEra(srcDir: string): Promise<Era> {
  try {
    await access(path.join(srcDir, NVHE_MAKEFILE));
    return "modern";
  } catch {
    // not modern; look for the legacy attribute
  }
  const header = await readContained(srcDir, path.join(srcDir, KVM_HYP_H)).catch(() => "");
  if (/^#define\s+__hyp_text\b/m.test(header)) return "legacy";
  throw new UnknownEraError(srcDir);
}
