import type { Finding } from "../check/index.js";

/*
 * How a finding reads in every text a person gets (replies, digests): where it is, as the
 * author wrote it, and what it is, in a few words. Unescaped: each renderer escapes.
 */

/**
 * file:line in the function written there, and the function it was inlined into:
 * `mem_protect.c:555 in hyp_complete_share(), inlined into __pkvm_host_share_hyp()`.
 */
export function findingPlace(f: Finding): string {
  const at = f.file ? `${f.file}${f.line ? `:${f.line}` : ""}` : (f.object ?? "?");
  const written = f.inlineChain[0]?.function;
  if (f.function && written && written !== f.function)
    return `${at} in ${written}(), inlined into ${f.function}()`;
  return f.function ? `${at} in ${f.function}()` : at;
}

/**
 * What was found: the symbols a kernel reference names (one cause can name several), else
 * the checker's message.
 */
export function findingWhat(group: readonly Finding[]): string {
  const [f] = group;
  if (!f) return "";
  const symbols = [...new Set(group.map((g) => g.symbol))];
  if (f.kind === "symbol")
    return `${symbols.length === 1 ? "symbol" : "symbols"}: ${symbols.join(", ")}`;
  return group.length === 1 ? f.message : `what: ${symbols.join(", ")}`;
}
