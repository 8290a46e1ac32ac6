/**
 * The nVHE alias list (`KVM_NVHE_ALIAS` / `KVM_NVHE_ALIAS_HYP` in image-vars.h): the escape
 * hatches through which nVHE code may reach kernel symbols. Pure.
 */
import type { Patch } from "../mail/types.js";
import { findingKeys } from "./diff.js";
import { RULES, type Finding, type NvheAlias } from "./types.js";

export const NVHE_PREFIX = "__kvm_nvhe_";
export const IMAGE_VARS = "arch/arm64/kernel/image-vars.h";

/**
 * Every `__kvm_nvhe_<name> = <target>` assignment of a preprocessed linker script (the
 * built `arch/arm64/kernel/vmlinux.lds`), PROVIDE()d or not. Config #ifdefs are already
 * resolved there, which is why it is the judge rather than image-vars.h.
 */
export function parseNvheAliases(lds: string): NvheAlias[] {
  const aliases: NvheAlias[] = [];
  const re = /(?:PROVIDE(?:_HIDDEN)?\s*\(\s*)?\b__kvm_nvhe_(\w+)\s*=(?!=)\s*([^;)]+?)\s*\)?\s*;/g;
  for (const m of lds.matchAll(re)) {
    if (m[1] && m[2]) aliases.push({ name: m[1], target: m[2].trim() });
  }
  return aliases;
}

/** Aliases of `after` that `before` does not have (by name and target). */
export function newAliases(before: readonly NvheAlias[], after: readonly NvheAlias[]): NvheAlias[] {
  const seen = new Set(before.map((a) => `${a.name}=${a.target}`));
  return after.filter((a) => !seen.has(`${a.name}=${a.target}`));
}

/** The kernel symbol an alias exposes: the target, without a `__kvm_nvhe_` prefix if hyp-to-hyp. */
function exposed(alias: NvheAlias): string {
  return alias.target.startsWith(NVHE_PREFIX)
    ? alias.target.slice(NVHE_PREFIX.length)
    : alias.target;
}

/** Where an alias is written in image-vars.h (1-based), or null when the text lacks it. */
export function aliasLine(imageVars: string, alias: NvheAlias): number | null {
  const lines = imageVars.split("\n");
  const re = new RegExp(`KVM_NVHE_ALIAS(?:_HYP)?\\(\\s*${alias.name}\\s*[,)]`);
  const i = lines.findIndex((l) => re.test(l));
  return i < 0 ? null : i + 1;
}

/** One `alias` warning per new alias. `imageVars` (patched text) supplies line numbers. */
export function aliasFindings(
  added: readonly NvheAlias[],
  config: string,
  imageVars: string | null,
  source = "vmlinux.lds",
): Finding[] {
  return findingKeys(
    added.map((alias): Omit<Finding, "key"> => {
      const symbol = exposed(alias);
      const hyp = alias.target.startsWith(NVHE_PREFIX);
      return {
        rule: RULES.newAlias,
        severity: "warning",
        kind: "alias",
        symbol,
        file: IMAGE_VARS,
        line: imageVars === null ? null : aliasLine(imageVars, alias),
        function: null,
        inlineChain: [],
        config,
        message: hyp
          ? `new KVM_NVHE_ALIAS_HYP(${alias.name}, ${symbol}) makes nVHE ${alias.name} resolve to hyp ${symbol} (from ${source})`
          : `new KVM_NVHE_ALIAS(${alias.name}) lets nVHE code reach kernel symbol ${symbol}: it must be safe under hyp mappings (from ${source})`,
      };
    }),
  );
}

/**
 * Aliases a patch adds to image-vars.h, read from its `+` lines. Used when no build of the
 * patched tree exists; the built linker scripts are the judge when they do.
 */
export function aliasesAddedByPatch(patch: Patch): { alias: NvheAlias; line: number }[] {
  const out: { alias: NvheAlias; line: number }[] = [];
  for (const file of patch.files) {
    if (file.newPath !== IMAGE_VARS) continue;
    for (const hunk of file.hunks) {
      let line = hunk.newStart;
      for (const text of hunk.lines) {
        if (text.startsWith("-") || text.startsWith("\\")) continue;
        if (text.startsWith("+")) {
          const hyp = /KVM_NVHE_ALIAS_HYP\(\s*(\w+)\s*,\s*(\w+)\s*\)/.exec(text);
          const plain = /KVM_NVHE_ALIAS\(\s*(\w+)\s*\)/.exec(text);
          if (hyp?.[1] && hyp[2]) {
            out.push({ alias: { name: hyp[1], target: NVHE_PREFIX + hyp[2] }, line });
          } else if (plain?.[1]) {
            out.push({ alias: { name: plain[1], target: plain[1] }, line });
          }
        }
        line++;
      }
    }
  }
  return out;
}
