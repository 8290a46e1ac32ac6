import { describe, expect, it } from "vitest";
import { readPublicInbox } from "../intake/index.js";
import { corpusPath } from "../../test/corpus.js";
import { parseMail } from "./parse.js";
import { isPatchBreak, parsePatch } from "./patch.js";
import type { MailMessage } from "./types.js";

describe("isPatchBreak follows mailinfo.c patchbreak()", () => {
  it.each([
    ["---", true],
    ["--- ", true],
    ["---\t ", true],
    ["--- a/arch/arm64/kvm/arm.c", true],
    ["---  two spaces then text", false],
    ["---a", false],
    ["----------", false],
    ["-- ", false],
    ["--", false],
    ["diff --git a/x b/x", true],
    ["diff -u old new", true],
    ["diff", false],
    ["Index: arch/arm64/kvm/arm.c", true],
    ["Index:x", false],
  ])("%j -> %s", (line, expected) => {
    expect(isPatchBreak(line)).toBe(expected);
  });
});

// Small texts, each written to pin one rule of the split; the corpus tests and
// `npm run compare:mailinfo` check the same rules against real mail and git itself.
const FORMAT_PATCH = `From: Dave Martin <Dave.Martin@arm.com>
Subject: [PATCH] the real subject

Body line one.

Signed-off-by: Dave Martin <Dave.Martin@arm.com>
reviewed-BY: Some One <Some.One@Example.org>
---
 arch/arm64/kvm/arm.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/arch/arm64/kvm/arm.c b/arch/arm64/kvm/arm.c
index 1111111..2222222 100644
--- a/arch/arm64/kvm/arm.c
+++ b/arch/arm64/kvm/arm.c
@@ -10,3 +10,3 @@ static int foo(void)
 a

-b
+c

base-commit: 0123456789abcdef0123456789abcdef01234567
prerequisite-patch-id: fedcba9876543210fedcba9876543210fedcba98
-- 
2.39.0

`;

describe("parsePatch", () => {
  const patch = parsePatch(FORMAT_PATCH);

  it("drops in-body headers and keeps them as author and subject", () => {
    expect(patch?.inBodyFrom).toEqual({ name: "Dave Martin", email: "dave.martin@arm.com" });
    expect(patch?.inBodySubject).toBe("[PATCH] the real subject");
    expect(patch?.commitMessage).toBe(
      "Body line one.\n\nSigned-off-by: Dave Martin <Dave.Martin@arm.com>\n" +
        "reviewed-BY: Some One <Some.One@Example.org>\n",
    );
  });

  it("starts the diff at diff --git and keeps the rest, signature included", () => {
    expect(patch?.diff.startsWith("diff --git a/arch/arm64/kvm/arm.c")).toBe(true);
    expect(patch?.diff.endsWith("-- \n2.39.0\n\n")).toBe(true);
    expect(patch?.diff).not.toContain("1 file changed");
  });

  it("reads the hunk by its counts; an empty line is a context line", () => {
    expect(patch?.files).toEqual([
      {
        oldPath: "arch/arm64/kvm/arm.c",
        newPath: "arch/arm64/kvm/arm.c",
        status: "modified",
        binary: false,
        hunks: [
          {
            oldStart: 10,
            oldLines: 3,
            newStart: 10,
            newLines: 3,
            section: "static int foo(void)",
            lines: [" a", "", "-b", "+c"],
          },
        ],
      },
    ]);
  });

  it("canonical trailer names, lower-cased emails", () => {
    expect(patch?.trailers.map((t) => [t.name, t.person?.email])).toEqual([
      ["Signed-off-by", "dave.martin@arm.com"],
      ["Reviewed-by", "some.one@example.org"],
    ]);
  });

  it("format-patch --base footers after the diff", () => {
    expect(patch?.metadata).toMatchObject({
      baseCommit: "0123456789abcdef0123456789abcdef01234567",
      prerequisitePatchIds: ["fedcba9876543210fedcba9876543210fedcba98"],
    });
  });

  it("a `---` line ends the commit message even without a diff after it", () => {
    expect(parsePatch("Thanks!\n---\nJust a signature-ish line\n")).toBeNull();
  });

  it("leading blank lines are not part of the message", () => {
    const p = parsePatch(
      "\n\nFix it.\n---\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
    );
    expect(p?.commitMessage).toBe("Fix it.\n");
    expect(p?.files[0]?.hunks[0]).toMatchObject({ oldLines: 1, newLines: 1, lines: ["-a", "+b"] });
  });

  it("a plain unified diff without `diff --git`", () => {
    const p = parsePatch(
      "Fix.\n\n--- a/virt/kvm/arm/arm.c\t2019-01-01 00:00:00\n+++ b/virt/kvm/arm/arm.c\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n",
    );
    expect(p?.commitMessage).toBe("Fix.\n\n");
    expect(p?.files.map((f) => [f.oldPath, f.newPath, f.status])).toEqual([
      ["virt/kvm/arm/arm.c", "virt/kvm/arm/arm.c", "modified"],
    ]);
  });

  it("CVS Index: style, new file from /dev/null", () => {
    const p = parsePatch(
      "Add it.\nIndex: tools/new.c\n===================================================================\n" +
        "--- /dev/null\n+++ tools/new.c\n@@ -0,0 +1 @@\n+int x;\n",
    );
    expect(p?.diff.startsWith("Index: tools/new.c")).toBe(true);
    expect(p?.files).toMatchObject([{ oldPath: null, newPath: "new.c", status: "added" }]);
  });

  it("deleted, copied, mode change with content, quoted names", () => {
    const p = parsePatch(
      [
        "Several.",
        "---",
        "diff --git a/gone.c b/gone.c",
        "deleted file mode 100644",
        "index 1111111..0000000",
        "--- a/gone.c",
        "+++ /dev/null",
        "@@ -1 +0,0 @@",
        "-x",
        "diff --git a/a.c b/b.c",
        "similarity index 90%",
        "copy from a.c",
        "copy to b.c",
        "diff --git a/run.sh b/run.sh",
        "old mode 100644",
        "new mode 100755",
        "--- a/run.sh",
        "+++ b/run.sh",
        "@@ -1 +1 @@",
        "-a",
        "+b",
        'diff --git "a/t\\303\\251st file" "b/t\\303\\251st file"',
        "new file mode 100644",
        "index 0000000..1111111",
        "--- /dev/null",
        '+++ "b/t\\303\\251st file"',
        "@@ -0,0 +1 @@",
        "+y",
        "",
      ].join("\n"),
    );
    expect(p?.files.map((f) => [f.oldPath, f.newPath, f.status, f.hunks.length])).toEqual([
      ["gone.c", null, "deleted", 1],
      ["a.c", "b.c", "copied", 0],
      ["run.sh", "run.sh", "modified", 1],
      [null, "tést file", "added", 1],
    ]);
  });

  it("text after the last hunk is not read as a hunk line", () => {
    const p = parsePatch(
      "x\n---\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n-- \n2.1\n",
    );
    expect(p?.files[0]?.hunks[0]?.lines).toEqual(["-a", "+b"]);
  });
});

describe("cover letter footers", () => {
  const after = async (since: string): Promise<MailMessage> => {
    for await (const raw of readPublicInbox(corpusPath("kvmarm-0.git"), { since })) {
      return parseMail(raw);
    }
    throw new Error("no message after " + since);
  };

  it("b4's base-commit and change-id on a cover letter", async () => {
    const mail = await after("622a93fb0eea771cb6cdc470ce3fec4dceba4239");
    expect(mail.messageId).toBe("20220825-arm-spe-v8-7-v2-0-e37322d68ac0@kernel.org");
    expect(mail.patch).toBeNull();
    expect(mail.metadata).toMatchObject({
      baseCommit: "9abf2313adc1ca1b6180c508c25f22f9395cc780",
      changeId: "20220825-arm-spe-v8-7-fedf04e16f23",
    });
  });

  it("format-patch --base with a prerequisite patch id", async () => {
    const mail = await after("5acddbc665f6dded3ac1d7a5cce7437ddea909a8");
    expect(mail.messageId).toBe("20221208193857.4090582-1-dmatlack@google.com");
    expect(mail.metadata).toMatchObject({
      baseCommit: "89b2395859651113375101bb07cd6340b1ba3637",
      prerequisitePatchIds: ["19dc9f47392d43a9a86c0e4f3ce1f13b62004eeb"],
    });
  });
});
