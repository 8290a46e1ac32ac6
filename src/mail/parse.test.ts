import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { RawMail } from "../intake/index.js";
import { corpusPath } from "../../test/corpus.js";
import { parseMail } from "./parse.js";
import { MailParseError, type MailMessage } from "./types.js";

const eml = (folder: string, file: string): Promise<MailMessage> =>
  parseMail({ raw: readFileSync(corpusPath("threads", folder, file)), origin: file });

const emlFiles = (folder: string): string[] =>
  readdirSync(corpusPath("threads", folder)).filter((f) => f.endsWith(".eml"));

/** threads/MANIFEST.tsv: file -> Message-ID and subject as the archive lists them. */
const manifest = readFileSync(corpusPath("threads", "MANIFEST.tsv"), "utf8")
  .split("\n")
  .slice(1)
  .filter((l) => l !== "")
  .map((l) => l.split("\t"))
  .map(([file, , , messageId, subject]) => ({
    file: file ?? "",
    messageId: messageId ?? "",
    subject: subject ?? "",
  }));

/** One message saved as an mbox, some of them without the `From ` line. */
function single(file: string, origin: string): RawMail {
  let raw = readFileSync(file);
  if (raw.subarray(0, 5).toString() === "From ") raw = raw.subarray(raw.indexOf(0x0a) + 1);
  return { raw, origin };
}

/** A list footer of our own (quoted ones, `> ____`, belong to the text). */
const FOOTERS =
  /^_{47}\n[^\n>]*mailing list$|^You received this message because you are subscribed/m;

describe("parseMail on the threads corpus", () => {
  it.each(manifest.map((m) => [m.file, m] as const))(
    "%s: Message-ID and subject as listed",
    async (file, m) => {
      const raw = readFileSync(corpusPath(file));
      const mail = await parseMail({ raw, origin: file });
      // One Message-ID has junk after the brackets; the id is what is inside them.
      expect(mail.messageId).toBe(/^<([^>]+)>/.exec(m.messageId)?.[1] ?? m.messageId);
      // The manifest keeps RFC 2047 words encoded; that subject is checked below.
      if (!m.subject.includes("=?")) {
        expect(mail.subject.raw).toBe(m.subject.replace(/\s+/g, " ").trim());
      }
      expect(mail.patch?.diff ?? "").not.toMatch(FOOTERS);
      expect(mail.body).not.toMatch(/\n_{47}\n[^\n]*mailing list\n[^>]*$/);
    },
  );
});

describe("the Shadow Call Stack series through a Google Group", () => {
  it("patch 09/11: the real author, the hyp Makefile diff, no group footer", async () => {
    const mail = await eml("scs-v7", "b1eb57917fe82ef28ace633f216cbced5adc96b8.eml");
    expect(mail.from.email).toBe("clang-built-linux@googlegroups.com");
    expect(mail.author).toEqual({ name: "Sami Tolvanen", email: "samitolvanen@google.com" });
    expect(mail.dmarcRewritten).toBe(true);
    expect(mail.subject).toMatchObject({ version: 7, index: 9, total: 11, isPatch: true });
    const patch = mail.patch;
    expect(patch).not.toBeNull();
    expect(patch?.files.map((f) => [f.newPath, f.status, f.hunks.length])).toEqual([
      ["arch/arm64/kvm/hyp/Makefile", "modified", 1],
    ]);
    expect(patch?.files[0]?.hunks[0]).toMatchObject({
      oldStart: 28,
      oldLines: 3,
      newStart: 28,
      newLines: 6,
      section: "GCOV_PROFILE\t:= n",
    });
    expect(patch?.diff.endsWith("-- \n2.25.0.341.g760bfbb309-goog\n\n")).toBe(true);
    expect(mail.body).not.toContain("Google Groups");
    expect(patch?.commitMessage.startsWith("Filter out CC_FLAGS_SCS")).toBe(true);
    expect(patch?.trailers.map((t) => `${t.name}: ${t.person?.email}`)).toEqual([
      "Suggested-by: rostedt@goodmis.org",
      "Signed-off-by: samitolvanen@google.com",
      "Reviewed-by: keescook@chromium.org",
      "Reviewed-by: mark.rutland@arm.com",
    ]);
    expect(mail.replyTrailers).toEqual([]);
    expect(mail.automated).toBe(false);
    expect(mail.listId).toBe("clang-built-linux.googlegroups.com");
  });

  it("every patch of the series has Sami as author and a diff without the footer", async () => {
    const mails = await Promise.all(emlFiles("scs-v7").map((f) => eml("scs-v7", f)));
    const patches = mails.filter((m) => !m.subject.isReply && m.subject.index !== 0);
    expect(patches).toHaveLength(11);
    for (const m of patches) {
      expect(m.author.email).toBe("samitolvanen@google.com");
      expect(m.patch?.files.length).toBeGreaterThan(0);
      expect(m.patch?.diff).not.toContain("You received this message");
    }
  });

  it("a reviewer's Acked-by in a reply is a reply trailer", async () => {
    const mail = await eml("scs-v7", "5fdb01d0d37146a48357b5f497b81b6e0d45142f.eml");
    expect(mail.subject.isReply).toBe(true);
    expect(mail.replyTrailers).toEqual([
      {
        name: "Acked-by",
        value: "Will Deacon <will@kernel.org>",
        person: { name: "Will Deacon", email: "will@kernel.org" },
      },
    ]);
  });

  it("Reviewed-by and Tested-by from one reply", async () => {
    const mail = await eml("scs-v7", "aee8185df25082ac2d94581c055b8d098e01fb83.eml");
    expect(mail.replyTrailers.map((t) => t.name)).toEqual(["Reviewed-by", "Tested-by"]);
  });

  it("trailers quoted with `>` are not the replier's", async () => {
    // Mark's reply quotes Will's Acked-by and gives his own (with his typo).
    const mail = await eml("el2-nvhe-wxn-v1", "21377cc985a874c31c3b6fa7c74896605d6e030c.eml");
    expect(mail.body).toMatch(/^> Acked-by: Will Deacon <will@kernel.org>$/m);
    expect(mail.replyTrailers.map((t) => `${t.name}: ${t.value}`)).toEqual([
      "Acked-by: Mark Rutland <nark.rutland@arm.com>",
    ]);
  });
});

describe("MIME quirks", () => {
  it("base64 body re-encoded by Mailman: decoded, in-body From, footer gone", async () => {
    const mail = await eml("mime-quirks", "8c3aeba8d7a4a6d798651cbd2a1b3f54834fc832.eml");
    expect(mail.patch?.files.map((f) => f.newPath)).toEqual(["arch/arm64/include/asm/kvm_hyp.h"]);
    expect(mail.patch?.inBodyFrom).toEqual({ name: "Dave Martin", email: "dave.martin@arm.com" });
    expect(mail.patch?.commitMessage.startsWith("__fpsimd_enabled()")).toBe(true);
    expect(mail.patch?.diff).not.toContain("kvmarm mailing list");
    expect(mail.patch?.diff.endsWith("-- \n2.20.1\n\n")).toBe(true);
  });

  it("quoted-printable iso-8859-1 is decoded", async () => {
    const mail = await eml("mime-quirks", "66926ebaf2bd0f2521d273429e81fa76bbdaa6e6.eml");
    expect(mail.body).not.toMatch(/=20$|=3D/m);
    expect(mail.body).toContain("Gavin Shan wrote:");
  });

  it("iso-2022-jp is decoded, no escape sequences left", async () => {
    const mail = await eml("mime-quirks", "0a98a83dd124334f6e18283aaef6e0696a2c7491.eml");
    expect(mail.body).not.toContain("\u001b");
    expect(mail.author.email).toBe("zhang.lei@jp.fujitsu.com");
    expect(mail.subject.isReply).toBe(true);
  });

  it("gb2312: RFC 2047 name and base64 body decoded; the footer part and the HTML dropped", async () => {
    const mail = await eml("mime-quirks", "e9d8221234bec35eb6d1c0aa1c7e26116ab35b74.eml");
    expect(mail.from.name).toBe("胤桦 陈");
    expect(mail.body.startsWith("Hi, Andre")).toBe(true);
    expect(mail.body).not.toMatch(/<html|<div/i);
    expect(mail.body).not.toMatch(/^_{47}$/m);
  });

  it("gbk base64 format=flowed is decoded", async () => {
    const mail = await eml("mime-quirks", "b1ad6952911e8c4838408814defbf7fe7a56b705.eml");
    expect(mail.body).toContain("在 2021/5/8 上午1:36, Marc Zyngier 写道:");
    expect(mail.warnings).toEqual([]);
  });

  it("windows-1252 quoted-printable has no replacement characters", async () => {
    const mail = await eml("mime-quirks", "96ae7d880853fa5f12887782227d5f60429464a3.eml");
    expect(mail.body).not.toContain("\ufffd");
    expect(mail.body.startsWith("Kindly ignore this patch")).toBe(true);
  });

  it("a format=flowed reply with a diff is flagged, and its RFC 2047 subject decoded", async () => {
    const mail = await eml("mime-quirks", "f7ba3e8ddd3ab3c9a0a04934df7c966689b54d14.eml");
    expect(mail.subject.raw).toBe("Re: [RFC 2/3] KVM: arm64: pmu: Fix chained SW_INCR counters");
    expect(mail.patch?.files.map((f) => f.newPath)).toEqual(["virt/kvm/arm/pmu.c"]);
    expect(mail.warnings.map((w) => w.kind)).toContain("format-flowed-patch");
  });

  it("S/MIME signed: the signed text part, the signature ignored", async () => {
    const mail = await eml("mime-quirks", "bff165e7128c0a1743d5201a818f093f4684d346.eml");
    expect(mail.replyTrailers.map((t) => `${t.name}: ${t.value}`)).toEqual([
      "Reviewed-by: Andrew Walbran <qwandor@google.com>",
    ]);
    expect(mail.body).not.toMatch(/pkcs7|MII[A-Za-z0-9+/]{20}/);
  });

  it("PGP/MIME signed quoted-printable patch", async () => {
    const mail = await eml("mime-quirks", "b5f2763a36d212a0f25385c6da6b63c98af7cd2a.eml");
    expect(mail.patch?.files.map((f) => f.newPath)).toContain(
      "Documentation/virt/kvm/arm/pvlock.rst",
    );
    expect(mail.body).not.toContain("BEGIN PGP SIGNATURE");
  });

  it("a text/x-diff attachment carries the patch", async () => {
    const mail = await eml("mime-quirks", "25c5fe36d49f4f2e5729d9a932777958172e7894.eml");
    expect(mail.patch?.files.map((f) => f.newPath)).toEqual([
      "arch/arm64/include/asm/cpufeature.h",
      "arch/arm64/kernel/cpufeature.c",
    ]);
    expect(mail.body).not.toContain("diff --git");
  });

  it("a base64 text/x-patch attachment carries the patch", async () => {
    const mail = await eml("mime-quirks", "2b8b4595d0cf19e0d8a443b4886006877084249b.eml");
    expect(mail.patch?.files.map((f) => [f.newPath, f.status])).toEqual([
      ["x86/Makefile.common", "modified"],
      ["x86/ipi_stress.c", "added"],
      ["x86/unittests.cfg", "modified"],
    ]);
  });

  it("the kernel test robot is automated, its gzip'd config is no patch", async () => {
    const mail = await eml("mime-quirks", "553549863e3025ab1bb5ee9ec3fb111c55276c34.eml");
    expect(mail.automated).toBe(true);
    expect(mail.patch).toBeNull();
    expect(mail.replyTrailers).toEqual([]);
  });

  it("multipart/related with an image and a vcard: just the text", async () => {
    const mail = await eml("mime-quirks", "288c8f18326dbe092d0f3a77a1a22b47474ebbb3.eml");
    expect(mail.patch).toBeNull();
    expect(mail.body).toContain("I have seen some RFC about solving ARM64 kv");
    expect(mail.body).not.toMatch(/BEGIN:VCARD|iVBORw0KGgo/);
  });
});

describe("cover letter sent twice", () => {
  it("both copies parse to the same subject, different Message-IDs", async () => {
    const mails = await Promise.all(
      emlFiles("el2-nvhe-wxn-v1").map((f) => eml("el2-nvhe-wxn-v1", f)),
    );
    const covers = mails.filter((m) => m.subject.index === 0 && !m.subject.isReply);
    expect(covers).toHaveLength(2);
    expect(new Set(covers.map((m) => m.subject.stem)).size).toBe(1);
    expect(new Set(covers.map((m) => m.messageId)).size).toBe(2);
    expect(covers.every((m) => m.patch === null)).toBe(true);
  });
});

describe("Patchwork test mail", () => {
  const mbox = (name: string): Promise<MailMessage> =>
    parseMail(single(corpusPath("patchwork", "mail", name), name));

  it("CVS-style Index: diff", async () => {
    const mail = await mbox("0007-cvs-format-diff.mbox");
    expect(mail.patch?.diff.startsWith("Index: ")).toBe(true);
    expect(mail.patch?.files.length).toBeGreaterThan(0);
    expect(mail.patch?.files.every((f) => f.hunks.length > 0)).toBe(true);
  });

  it("pure git rename", async () => {
    const mail = await mbox("0008-git-rename.mbox");
    expect(mail.patch?.files.map((f) => [f.status, f.hunks.length])).toEqual([
      ["renamed", 0],
      ["renamed", 0],
    ]);
    expect(mail.patch?.files[0]).toMatchObject({
      oldPath: "package/rpi-userland/rpi-userland-add-pkgconfig-files.patch",
      newPath: "package/rpi-userland/rpi-userland-000-add-pkgconfig-files.patch",
    });
  });

  it("rename with changes", async () => {
    const mail = await mbox("0009-git-rename-with-diff.mbox");
    expect(mail.patch?.files[0]?.status).toBe("renamed");
    expect(mail.patch?.files[0]?.hunks.length).toBeGreaterThan(0);
  });

  it("no newline at end of file keeps the `\\` line in its hunk", async () => {
    const mail = await mbox("0011-no-newline-at-end-of-file.mbox");
    const lines = mail.patch?.files.flatMap((f) => f.hunks.flatMap((h) => h.lines)) ?? [];
    expect(lines).toContain("\\ No newline at end of file");
  });

  it("empty new file", async () => {
    const mail = await mbox("0021-git-empty-new-file.mbox");
    expect(mail.patch?.files[0]).toMatchObject({ status: "added", oldPath: null, hunks: [] });
  });

  it("mode change only", async () => {
    const mail = await mbox("0022-git-mode-change.mbox");
    expect(mail.patch?.files.map((f) => f.status)).toContain("mode-only");
  });

  it("binary files", async () => {
    const added = await mbox("0025-git-add-binary-file.mbox");
    expect(added.patch?.files[0]).toMatchObject({ status: "added", binary: true });
    const mixed = await mbox("0026-git-add-mixed-binary-text-files.mbox");
    expect(mixed.patch?.files.map((f) => f.binary).sort()).toEqual([false, true]);
    const modified = await mbox("0027-git-modify-binary-file.mbox");
    expect(modified.patch?.files[0]).toMatchObject({ status: "modified", binary: true });
  });

  it("a pull request is no patch; one with a diff is", async () => {
    const pull = await mbox("0001-git-pull-request.mbox");
    expect(pull.patch).toBeNull();
    const withDiff = await mbox("0003-git-pull-request-with-diff.mbox");
    expect(withDiff.patch?.files.length).toBeGreaterThan(0);
  });

  it("multipart: the patch part is found, the HTML part of a comment ignored", async () => {
    const patch = await mbox("0019-multipart-patch.mbox");
    expect(patch.patch?.files.length).toBeGreaterThan(0);
    const comment = await mbox("0020-multipart-comment.mbox");
    expect(comment.body).not.toMatch(/<html|<p>/i);
  });

  it("no Subject", async () => {
    const mail = await mbox("0016-no-subject.mbox");
    expect(mail.subject.raw).toBe("");
    expect(mail.subject.isPatch).toBe(false);
  });

  it("bad charsets and header bytes give warnings or decoded text, never a crash", async () => {
    for (const name of [
      "0010-invalid-charset.mbox",
      "0012-invalid-header-char.mbox",
      "0013-with-utf8-body.mbox",
      "0014-with-unencoded-utf8-headers.mbox",
      "0015-with-invalid-utf8-headers.mbox",
    ]) {
      const mail = await mbox(name);
      expect(mail.messageId).not.toBe("");
    }
    const invalid = await mbox("0010-invalid-charset.mbox");
    expect(invalid.warnings.map((w) => w.kind)).toContain("bad-charset");
    const utf8 = await mbox("0014-with-unencoded-utf8-headers.mbox");
    expect(utf8.subject.raw).toContain("Rafał Miłecki");
  });

  it("every fuzzed message gives a MailParseError or a message, never another error", async () => {
    const dir = corpusPath("patchwork", "fuzz");
    let parsed = 0;
    let refused = 0;
    for (const name of readdirSync(dir)) {
      {
        const raw = single(`${dir}/${name}`, name);
        try {
          const mail = await parseMail(raw);
          expect(typeof mail.messageId).toBe("string");
          parsed++;
        } catch (err) {
          expect(err).toBeInstanceOf(MailParseError);
          expect((err as MailParseError).message).toContain(name);
          refused++;
        }
      }
    }
    expect(parsed + refused).toBe(17);
  });

  it("fuzzed dates are null with a bad-date warning", async () => {
    for (const name of ["date.mbox", "date-too-long.mbox", "year-out-of-range.mbox"]) {
      {
        const mail = await parseMail(single(corpusPath("patchwork", "fuzz", name), name));
        if (mail.date === null) expect(mail.warnings.map((w) => w.kind)).toContain("bad-date");
      }
    }
  });
});

describe("refusals and repairs", () => {
  it("an empty message is a MailParseError naming its origin", async () => {
    await expect(parseMail({ raw: Buffer.alloc(0), origin: "x.mbox#3" })).rejects.toThrow(
      /x\.mbox#3/,
    );
  });

  it("a missing Message-ID gets a synthetic one and a warning", async () => {
    const raw = Buffer.from(
      "From: A <a@example.org>\nSubject: hi\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nbody\n",
    );
    const mail = await parseMail({ raw, origin: "inbox.mbox#7" });
    expect(mail.messageId).toBe("inbox.mbox.7@hypwatch.invalid");
    expect(mail.warnings.map((w) => w.kind)).toEqual(["missing-message-id"]);
  });

  it("a DMARC rewrite needs a list address: a person named `X via Y` stays the author", async () => {
    const headers = "Message-ID: <a@b>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n";
    const person = await parseMail({
      raw: Buffer.from(headers + "From: Anna via Email <anna@example.org>\n\nhi\n"),
      origin: "o",
    });
    expect(person.dmarcRewritten).toBe(false);
    expect(person.author.email).toBe("anna@example.org");
    const list = await parseMail({
      raw: Buffer.from(
        headers +
          "From: Anna via kvmarm <kvmarm@lists.cs.columbia.edu>\n" +
          "Reply-To: Anna <Anna@Example.org>\n" +
          "List-Post: <mailto:kvmarm@lists.cs.columbia.edu>\n\nhi\n",
      ),
      origin: "o",
    });
    expect(list.dmarcRewritten).toBe(true);
    expect(list.author).toEqual({ name: "Anna", email: "anna@example.org" });
  });

  it("an unparseable Date is null with a warning", async () => {
    const raw = Buffer.from("Message-ID: <x@y>\nFrom: a@b\nDate: the day after tomorrow\n\nbody\n");
    const mail = await parseMail({ raw, origin: "o" });
    expect(mail.date).toBeNull();
    expect(mail.warnings.map((w) => w.kind)).toEqual(["bad-date"]);
  });
});
