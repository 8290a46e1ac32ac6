import { describe, expect, it } from "vitest";
import { archiveMessages } from "../../test/series-helpers.js";
import { assembleSeries, SeriesAssembler } from "../series/index.js";
import { classifyBotMail, isBotMail, knownBot, KNOWN_BOT_ADDRESSES } from "./bots.js";
import { parseSubject } from "./subject.js";

const one = async (commit: string, archive?: string) => {
  const [mail] = await archiveMessages([commit], archive);
  if (!mail) throw new Error(`no message at ${commit}`);
  return mail;
};

describe("bot mail with a diff is classified, with the reason", () => {
  it("a stable-queue notice (kvmarm, Greg's 'added to the 4.14-stable tree') by its X-stable header", async () => {
    const mail = await one("f8e3c13ed03ca835f1728a529c357051cb4c8b50");
    expect(mail.patch).not.toBeNull();
    expect(mail.botMail).toEqual({ kind: "stable-queue", reason: "X-stable: commit" });
  });

  it("an AUTOSEL stable backport (kvm-ppc) by the X-Patchwork-Hint: ignore it carries", async () => {
    const mail = await one("a878b5024e2f17253ac618e564472846abb85422", "kvm-ppc-0.git");
    expect(mail.subject.isPatch).toBe(true);
    expect(mail.botMail).toEqual({ kind: "patchwork-ignore", reason: "X-Patchwork-Hint: ignore" });
  });

  it("the kernel test robot's build report quoting a diff (kvm-ppc) by its sender", async () => {
    const mail = await one("83d51e24e5802d2804fef516d84923319863e1f6", "kvm-ppc-0.git");
    expect(mail.subject.index).toBe(2);
    expect(mail.botMail).toEqual({
      kind: "known-bot",
      reason: "sent by kernel test robot (lkp@intel.com)",
    });
  });

  it("the robot's own [PATCH] (a coccinelle fix) by the X-Patchwork-Hint: ignore it sends", async () => {
    const mail = await one("37c3487a985d44092256034aba64d5ba6f971ea3");
    expect(mail.subject.isPatch).toBe(true);
    expect(mail.botMail).toEqual({ kind: "patchwork-ignore", reason: "X-Patchwork-Hint: ignore" });
  });

  it("a reply is never classified: maz's b4 thank-you to the robot's patch is no series anyway", async () => {
    const mail = await one("7b4648528d42951dd6d47c03b6d6e816045fd926");
    expect(mail.subject.isReply).toBe(true);
    expect(mail.messageId).toMatch(/b4-ty@/);
    expect(mail.botMail).toBeNull();
  });

  it("people's patches are not bot mail", async () => {
    const mail = await one("2eca60f912c0aea059615bd605fafd52960c2ce2", "kvm-ppc-0.git");
    expect(mail.subject.raw).toMatch(/^\[RESEND PATCH v5 1\/6\]/);
    expect(mail.botMail).toBeNull();
  });

  it("reads commit notices, CI reports and thank-yous from their first lines, not a changelog", () => {
    const input = (subject: string, body: string, from = "someone@example.org") => ({
      header: () => null,
      from: { name: "", email: from },
      subject: parseSubject(subject),
      body,
    });
    const tip =
      "The following commit has been merged into the x86/urgent branch of tip:\n\nCommit-ID: 1\n";
    expect(classifyBotMail(input("[tip: x86/urgent] x86/foo: Fix", tip))?.kind).toBe(
      "commit-notice",
    );
    expect(classifyBotMail(input("x86/foo: Fix", tip))?.kind).toBe("commit-notice");
    const bisect = "syzbot has bisected this issue to:\n\ncommit 1234\n";
    expect(classifyBotMail(input("KASAN: use-after-free", bisect))?.kind).toBe("ci-report");
    const ty = "On Mon, 1 Jan 2024, A wrote:\n> [PATCH] foo\n\nApplied to fixes, thanks!\n";
    expect(classifyBotMail(input("[PATCH] foo", ty))).toEqual({
      kind: "applied-notice",
      reason: 'body: "Applied to fixes, thanks!"',
    });
    const cover = "This series does X.\n\nChanges in v2:\n\nApplied Marc's suggestion, thanks.\n";
    expect(
      classifyBotMail(input("[PATCH v2 0/3] foo", `Intro.\nMore.\nEven more.\n${cover}`)),
    ).toBeNull();
  });
});

describe("bot mail is never a series", () => {
  it("the stable notices of the kvmarm PMC_EL0 fix are listed as bot mail, not series", async () => {
    const messages = await archiveMessages([
      "f8e3c13ed03ca835f1728a529c357051cb4c8b50",
      "5561d181646be0e6b676e7be2bba148a42c9656f",
    ]);
    expect(assembleSeries(messages)).toEqual([]);
    const assembler = new SeriesAssembler();
    for (const m of messages) assembler.add(m);
    expect(assembler.botMail().map((b) => [b.messageId, b.kind, b.relevant])).toEqual(
      messages.map((m) => [m.messageId, "stable-queue", true]),
    );
  });
});

describe("one list of known bots", () => {
  it("is what the reply side, mail parsing and trailer counting all consult", () => {
    expect(KNOWN_BOT_ADDRESSES).toContain("lkp@intel.com");
    expect(knownBot({ name: "", email: "patchwork-bot+kvm@kernel.org" })?.name).toBe(
      "patchwork-bot",
    );
    const bot = {
      address: "hypwatch@example.org",
      messageIdDomain: "hypwatch.example.org",
      botAddresses: [],
    };
    const mail = { messageId: "a@b", automated: false };
    expect(isBotMail({ ...mail, author: { name: "", email: "tip-bot2@linutronix.de" } }, bot)).toBe(
      true,
    );
    expect(isBotMail({ ...mail, author: { name: "", email: "maz@kernel.org" } }, bot)).toBe(false);
  });
});
