import { fileURLToPath } from "node:url";
import path from "node:path";

/**
 * The shared real-mail corpus, beside the project (`../shared/corpus`), never copied into
 * it. `HYPWATCH_CORPUS` points elsewhere.
 */
export const CORPUS =
  process.env.HYPWATCH_CORPUS ??
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "shared", "corpus");

export const corpusPath = (...parts: string[]): string => path.join(CORPUS, ...parts);
