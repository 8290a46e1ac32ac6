export * from "./types.js";
export { analyzeModernBuild, readNvheAliases, NVHE_SECTION_ALLOWLIST } from "./modern.js";
export type { ModernBuildInput } from "./modern.js";
export { diffFindings, attributeFindings, findingKeys, baseKey } from "./diff.js";
export { parseNvheAliases, newAliases, aliasFindings, aliasesAddedByPatch } from "./aliases.js";
