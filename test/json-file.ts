import { writeFile } from "node:fs/promises";
import { format, resolveConfig } from "prettier";

/** Write `value` as JSON formatted as the repository's files are (npm test checks them). */
export async function writeJsonFile(file: string, value: unknown): Promise<void> {
  const options = (await resolveConfig(file)) ?? {};
  await writeFile(file, await format(JSON.stringify(value), { ...options, parser: "json" }));
}
