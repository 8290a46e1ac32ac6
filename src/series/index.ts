export {
  assembleSeries,
  assembleFromSummaries,
  SeriesAssembler,
  DEFAULT_BOT_ADDRESSES,
  type AssembleOptions,
} from "./assemble.js";
export { buildThreads, walkThread, defaultParseScore, ThreadLimitError } from "./threads.js";
export type { Threadable, ThreadNode, BuildThreadsOptions } from "./threads.js";
export { isRelevant, DEFAULT_RELEVANT_PATTERNS } from "./relevance.js";
export { summarizeMail, type SeriesMail } from "./summary.js";
export type { Series, SeriesPatch } from "./types.js";
