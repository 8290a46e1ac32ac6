import { describe, expect, it } from "vitest";
import { readPublicInbox } from "../intake/index.js";
import { corpusPath } from "../../test/corpus.js";
import { stripListFooters } from "./footers.js";
import { parseMail } from "./parse.js";

const KVMARM_FOOTER =
  "_______________________________________________\nkvmarm mailing list\n" +
  "kvmarm@lists.cs.columbia.edu\nhttps://lists.cs.columbia.edu/mailman/listinfo/kvmarm\n";

const GROUP_FOOTER =
  '-- \nYou received this message because you are subscribed to the Google Groups "Clang Built Linux" group.\n' +
  "To unsubscribe from this group and stop receiving emails from it, send an email to clang-built-linux+unsubscribe@googlegroups.com.\n";

describe("stripListFooters", () => {
  it("removes a Mailman footer and keeps the text before it byte for byte", () => {
    const text = "-- \n2.20.1\n\n";
    expect(stripListFooters(text + KVMARM_FOOTER)).toEqual({ text, stripped: 1 });
  });

  it("removes a Google Groups footer after a format-patch signature", () => {
    const text = "+x\n-- \n2.25.0.341.g760bfbb309-goog\n\n";
    expect(stripListFooters(text + GROUP_FOOTER)).toEqual({ text, stripped: 1 });
  });

  it("removes both when a message went through two lists", () => {
    expect(stripListFooters("body\n" + GROUP_FOOTER + KVMARM_FOOTER).text).toBe("body\n");
  });

  it("keeps a quoted footer, which is part of a reply", () => {
    const quoted = "> " + KVMARM_FOOTER.trimEnd().split("\n").join("\n> ") + "\n";
    expect(stripListFooters("Thanks\n" + quoted)).toEqual({
      text: "Thanks\n" + quoted,
      stripped: 0,
    });
  });

  it("keeps a rule in the middle of the text", () => {
    const text = KVMARM_FOOTER + "more text\n".repeat(200);
    expect(stripListFooters(text).stripped).toBe(0);
  });

  it("a footer Mailman glued to an unterminated `> ` line (real, base64 body)", async () => {
    const since = "36849fbcba989080a5c1a8722d09061e3716cfca";
    for await (const raw of readPublicInbox(corpusPath("kvmarm-0.git"), { since })) {
      const mail = await parseMail(raw);
      expect(mail.messageId).toBe("82cfbb7f-dd4f-12d8-dc76-847f06172200@huawei.com");
      expect(mail.body).not.toContain("kvmarm mailing list");
      expect(mail.patch?.diff.endsWith("> say that the bootloader/fdt beg for fixes...\n> ")).toBe(
        true,
      );
      return;
    }
    throw new Error("message not found");
  });
});
