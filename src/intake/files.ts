import { readFile, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { DEFAULT_MAIL_LIMITS } from "../mail/limits.js";
import { overLimitReason } from "../mail/limits.js";
import { SourceError, reportOrThrow, type ReadOptions } from "./errors.js";
import type { RawMail } from "./types.js";

/** Sorts names the way people expect (`2.eml` before `10.eml`), the same on every machine. */
const byName = new Intl.Collator("en", { numeric: true }).compare;

async function readOne(
  source: string,
  file: string,
  origin: string,
  opts: ReadOptions,
): Promise<RawMail | null> {
  try {
    // Refused before reading: a file of gigabytes must not be read into memory first.
    const cap = (opts.limits ?? DEFAULT_MAIL_LIMITS).maxMessageBytes;
    const size = (await stat(file)).size;
    if (size > cap) {
      const reason = overLimitReason("maxMessageBytes", `message of ${size} bytes`, cap);
      reportOrThrow(new SourceError("over-limit", source, reason, origin), opts);
      return null;
    }
    return { raw: await readFile(file), origin };
  } catch (cause) {
    if (cause instanceof SourceError) throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    reportOrThrow(new SourceError("read-failed", source, `cannot read: ${reason}`, origin), opts);
    return null;
  }
}

async function listFiles(dir: string, keep: (name: string) => boolean): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && !entry.name.startsWith(".") && keep(entry.name))
    .map((entry) => entry.name)
    .sort(byName);
}

/** A single message file. */
export async function* readEml(file: string, opts: ReadOptions = {}): AsyncGenerator<RawMail> {
  const mail = await readOne(file, file, path.basename(file), opts);
  if (mail) yield mail;
}

/** Every `.eml` file of a directory (not its subdirectories), in name order. */
export async function* readEmlDirectory(
  dir: string,
  opts: ReadOptions = {},
): AsyncGenerator<RawMail> {
  const label = path.basename(path.resolve(dir));
  let names: string[];
  try {
    names = await listFiles(dir, (name) => name.toLowerCase().endsWith(".eml"));
  } catch (cause) {
    throw new SourceError("not-found", dir, cause instanceof Error ? cause.message : String(cause));
  }
  for (const name of names) {
    const mail = await readOne(dir, path.join(dir, name), `${label}/${name}`, opts);
    if (mail) yield mail;
  }
}

/** True when `dir` has the `cur/` or `new/` folder of a Maildir. */
export async function isMaildir(dir: string): Promise<boolean> {
  for (const sub of ["cur", "new"]) {
    try {
      if ((await stat(path.join(dir, sub))).isDirectory()) return true;
    } catch {
      // Not there; try the other one.
    }
  }
  return false;
}

/**
 * A Maildir's messages (`cur/` and `new/`; `tmp/` holds deliveries in progress). Maildir
 * names begin with the delivery time, so ordering by name, whatever the folder, gives
 * delivery order; ties are broken by folder, so the order is the same on every run.
 */
export async function* readMaildir(dir: string, opts: ReadOptions = {}): AsyncGenerator<RawMail> {
  const label = path.basename(path.resolve(dir));
  const files: { sub: string; name: string }[] = [];
  for (const sub of ["cur", "new"]) {
    let names: string[];
    try {
      names = await listFiles(path.join(dir, sub), () => true);
    } catch {
      continue;
    }
    for (const name of names) files.push({ sub, name });
  }
  files.sort((a, b) => byName(a.name, b.name) || byName(a.sub, b.sub));
  for (const { sub, name } of files) {
    const mail = await readOne(dir, path.join(dir, sub, name), `${label}/${sub}/${name}`, opts);
    if (mail) yield mail;
  }
}
