/**
 * Where a reference is written. The compiler's line table puts an address where it is
 * used, which is often the line after the one that names the symbol
 * (`p = &kvm_arm_hyp_percpu_base;` then `base = p[cpu];`), or inside a helper that was
 * handed the address (`arch_test_bit(num, cpu_hwcaps)` loads through its `addr`). Pure.
 */
import { wordPattern } from "./patterns.js";

/** How far above the compiler's line the naming line may be. */
const LOOK_BACK = 3;

/**
 * The line (1-based) of `source` that names `symbol`: `line` itself when it does, else the
 * nearest of the few lines above it that does, else null.
 */
function findNamingLine(source: string, line: number, symbol: string): number | null {
  const lines = source.split("\n");
  const names = wordPattern(symbol);
  if (names.test(lines[line - 1] ?? "")) return line;
  for (let above = line - 1; above >= Math.max(1, line - LOOK_BACK); above--) {
    const text = lines[above - 1] ?? "";
    // Not past the start of the function or block the reference is in.
    if (/^[{}]/.test(text)) break;
    if (names.test(text)) return above;
  }
  return null;
}

/** One frame of an inline chain as `namingFrame` reads it: its line and its file's text. */
export interface FrameSource {
  line: number | null;
  /** The frame file's text; null when it cannot be read (outside the tree, generated). */
  source: string | null;
}

/**
 * The first frame of an inline chain (innermost first) whose line, or one of the few above
 * it, names `symbol`, with that line; null when none does. The innermost frame is where the
 * instruction is, which is not always where the reference is written: a helper that only
 * dereferences the address it was given is reached from the line that passes the symbol.
 */
export function namingFrame(
  frames: readonly FrameSource[],
  symbol: string,
): { index: number; line: number } | null {
  for (const [index, frame] of frames.entries()) {
    if (frame.source === null || frame.line === null) continue;
    const line = findNamingLine(frame.source, frame.line, symbol);
    if (line !== null) return { index, line };
  }
  return null;
}
