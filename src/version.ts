import { existsSync, readFileSync } from "node:fs";

/** This package's version, for the User-Agent hypwatch sends (run from src/ or dist/src/). */
export function packageVersion(): string {
  for (const up of ["../package.json", "../../package.json"]) {
    const file = new URL(up, import.meta.url);
    if (existsSync(file))
      return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
  }
  return "unknown";
}
