export * from "./types.js";
export {
  analyzeModernBuild,
  readNvheAliases,
  NVHE_SECTION_ALLOWLIST,
  type ModernBuildInput,
} from "./modern.js";
export {
  analyzeLegacyObjects,
  checkLegacySources,
  LEGACY_VARIANTS,
  type LegacyObjectsInput,
  type LegacySourcesInput,
  type LegacyVariant,
  type LegacyVerdict,
} from "./legacy.js";
export { ObjectMemo } from "./objects.js";
export { analyzerFingerprint } from "./fingerprint.js";
export { diffFindings, attributeFindings, bisectStep, findingKeys, baseKey } from "./diff.js";
export { parseNvheAliases, newAliases, aliasFindings, aliasesAddedByPatch } from "./aliases.js";
export type { InstrumentationName } from "./instrumentation.js";
export {
  groupByCause,
  changedLines,
  sectionContents,
  type CauseGrouping,
  type ChangedFile,
  type ChangedLine,
} from "./causes.js";
