import { createLogger, type LogLevel, type Logger } from "../src/log.js";

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A logger whose lines a test reads back, exactly as they would be written. */
export function captureLog(level: LogLevel = "info"): {
  log: Logger;
  raw: string[];
  lines: () => LogLine[];
} {
  const raw: string[] = [];
  const log = createLogger({ level, destination: { write: (line: string) => raw.push(line) } });
  return { log, raw, lines: () => raw.map((line) => JSON.parse(line) as LogLine) };
}
