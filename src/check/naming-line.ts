/**
 * Where a reference is written. The compiler's line table puts an address where it is
 * used, which is often the line after the one that names the symbol
 * (`p = &kvm_arm_hyp_percpu_base;` then `base = p[cpu];`). Pure.
 */
import { wordPattern } from "./patterns.js";

/** How far above the compiler's line the naming line may be. */
const LOOK_BACK = 3;

/**
 * The line (1-based) of `source` that names `symbol`: `line` itself when it does, else the
 * nearest of the few lines above it that does, else `line` (a macro that hides the name, a
 * line the debug information got from elsewhere).
 */
export function namingLine(source: string, line: number, symbol: string): number {
  const lines = source.split("\n");
  const names = wordPattern(symbol);
  if (names.test(lines[line - 1] ?? "")) return line;
  for (let above = line - 1; above >= Math.max(1, line - LOOK_BACK); above--) {
    const text = lines[above - 1] ?? "";
    // Not past the start of the function or block the reference is in.
    if (/^[{}]/.test(text)) break;
    if (names.test(text)) return above;
  }
  return line;
}
