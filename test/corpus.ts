import { fileURLToPath } from "node:url";
import path from "node:path";

/** The shared real-mail corpus, beside the project (never copied into it). */
export const CORPUS = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "shared",
  "corpus",
);

export const corpusPath = (...parts: string[]): string => path.join(CORPUS, ...parts);
