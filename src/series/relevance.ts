/**
 * Paths whose changes matter to arm64 KVM and its hypervisor code, across the mid-2020 move
 * of `virt/kvm/arm` into `arch/arm64/kvm` and the 32-bit host removal: what makes a patch
 * "touch arm64 KVM" unless `HYPWATCH_RELEVANT_PATHS` says otherwise.
 *
 * A pattern ending in `/` matches everything below that directory; `*` matches within one
 * path component and `**` across components; anything else must match the whole path.
 */
export const DEFAULT_RELEVANT_PATTERNS: readonly string[] = [
  "arch/arm64/kvm/",
  "arch/arm64/include/asm/kvm_*",
  "arch/arm64/kernel/image-vars.h",
  "virt/kvm/arm/",
  "include/kvm/arm_*",
  "arch/arm/kvm/",
];

const compiled = new Map<string, RegExp>();

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}

function patternToRegExp(pattern: string): RegExp {
  const cached = compiled.get(pattern);
  if (cached) return cached;
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] ?? "";
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        source += ".*";
        i++;
      } else {
        source += "[^/]*";
      }
    } else {
      source += escapeRegExp(ch);
    }
  }
  const re = new RegExp(`^${source}${pattern.endsWith("/") ? "" : "$"}`);
  compiled.set(pattern, re);
  return re;
}

/** Whether a changed file (path as in the diff, without `a/` or `b/`) is one we watch. */
export function isRelevant(
  path: string,
  patterns: readonly string[] = DEFAULT_RELEVANT_PATTERNS,
): boolean {
  const clean = path.replace(/^\.?\//, "");
  return patterns.some((pattern) => patternToRegExp(pattern).test(clean));
}
