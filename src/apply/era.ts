import { access } from "node:fs/promises";
import { readContained } from "../io/untrusted.js";
import path from "node:path";
import { UnknownEraError, type Era } from "./types.js";

const NVHE_MAKEFILE = "arch/arm64/kvm/hyp/nvhe/Makefile";
const KVM_HYP_H = "arch/arm64/include/asm/kvm_hyp.h";

/**
 * Make targets that build exactly the hyp objects the checks read, and what the analysis
 * reads beside them.
 *
 * Modern: the nVHE directory, which builds the shared `../*.o` and `../../../lib/*.o` it
 * links, and `vmlinux.lds`, which holds the preprocessed KVM_NVHE_ALIAS list. Not the VHE
 * directory: VHE code runs at EL2 with the kernel mapped, where it may call the kernel and
 * carry instrumentation (docs/check.md), as the host KVM code hypwatch does not build
 * either; compiling it only to see that it compiles was 13% of the make time of a
 * header-wide series' verdict (`npm run bench:vhe`). Legacy: hyp code has no separate nVHE
 * build, and every object in the hyp directories is checked.
 */
export const HYP_TARGETS: Record<Era, readonly string[]> = {
  modern: ["arch/arm64/kvm/hyp/nvhe/", "arch/arm64/kernel/vmlinux.lds"],
  legacy: ["arch/arm64/kvm/hyp/", "virt/kvm/arm/hyp/", "arch/arm64/kvm/hyp-init.o"],
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
