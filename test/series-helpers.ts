import { readEmlDirectory, readMbox } from "../src/intake/index.js";
import { catFileBatch, openGitDir } from "../src/io/git-archive.js";
import { parseMail, type MailMessage } from "../src/mail/index.js";
import { parseOne } from "../src/intake/parseBatch.js";
import type { RawMail } from "../src/mail/types.js";
import { SeriesAssembler, type Series, type SeriesMail } from "../src/series/index.js";
import { corpusPath } from "./corpus.js";

/** Every message of an mbox from the corpus, parsed, in mbox order. */
export async function corpusMbox(...parts: string[]): Promise<MailMessage[]> {
  const messages: MailMessage[] = [];
  for await (const raw of readMbox(corpusPath(...parts))) messages.push(await parseMail(raw));
  return messages;
}

/** Every `.eml` of a corpus thread folder, parsed, in file-name order (not arrival order). */
export async function corpusEmlFolder(...parts: string[]): Promise<MailMessage[]> {
  const messages: MailMessage[] = [];
  for await (const raw of readEmlDirectory(corpusPath(...parts))) {
    messages.push(await parseMail(raw));
  }
  return messages;
}

/** The one series whose cover letter or first patch has this Message-ID. */
export function seriesById(all: Series[], id: string): Series {
  const found = all.find((s) => s.id === id);
  if (!found) throw new Error(`no series ${id} among ${all.map((s) => s.id).join(", ")}`);
  return found;
}

/**
 * Messages of a corpus archive (kvmarm unless named), by the commits that added them, in
 * that order. `edit` may change a message's text before it is parsed (a test that moves
 * real mail into another thread says so).
 */
export async function archiveMessages(
  commits: string[],
  archiveName = "kvmarm-0.git",
  edit?: (text: string, commit: string) => string,
): Promise<MailMessage[]> {
  const archive = await openGitDir(corpusPath(archiveName));
  async function* requests(): AsyncGenerator<string> {
    for (const commit of commits) yield `${commit}:m`;
  }
  const messages: MailMessage[] = [];
  try {
    for await (const object of catFileBatch(archive.gitDir, requests())) {
      if (!object.found) throw new Error(`${object.request} is not in ${archiveName}`);
      const commit = object.request.slice(0, -2);
      const raw = edit
        ? Buffer.from(edit(object.content.toString("latin1"), commit), "latin1")
        : object.content;
      messages.push(await parseMail({ raw, origin: `${archiveName}@${commit}`, commit }));
    }
  } finally {
    await archive.close();
  }
  return messages;
}

/**
 * Every series of some mail as a one-shot `scan` assembles it, and of them the newest
 * revisions touching arm64 KVM: what the service must check, each once.
 */
export async function oneShotSeries(
  mails: readonly RawMail[],
): Promise<{ series: Series[]; relevant: Series[] }> {
  const assembler = new SeriesAssembler();
  for (const mail of mails) {
    const parsed = await parseOne(mail, "summary");
    if (parsed.ok) assembler.addSummary(parsed.value as SeriesMail);
  }
  const series = assembler.finish();
  return { series, relevant: series.filter((s) => s.relevant && s.newest && s.patches.length > 0) };
}
