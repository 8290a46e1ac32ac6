import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { readPublicInbox } from "../intake/index.js";
import { corpusPath } from "../../test/corpus.js";
import { extractText, unflowLikeMailinfo } from "./body.js";
import { headerValue, parseStructured, splitMessage } from "./headers.js";

describe("single-part decoding gives what mailparser gives", () => {
  it("every base64, quoted-printable, non-UTF-8 or flowed single-part message of the archive", async () => {
    let compared = 0;
    const differing: string[] = [];
    for await (const raw of readPublicInbox(corpusPath("kvmarm-0.git"))) {
      const { headers, body } = splitMessage(raw.raw);
      const type = parseStructured(headerValue(headers, "content-type"));
      const encoding = headerValue(headers, "content-transfer-encoding") ?? "";
      if (/multipart|html/.test(type.value)) continue;
      // Plain us-ascii needs no decoding; the rest is where decoders differ.
      const charset = (type.params.charset ?? "us-ascii").toLowerCase();
      const flowed = (type.params.format ?? "").toLowerCase() === "flowed";
      if (!/base64|quoted/i.test(encoding) && charset === "us-ascii" && !flowed) continue;
      const ours = (await extractText(headers, body)).text;
      const parsed = await simpleParser(raw.raw, {
        skipHtmlToText: true,
        skipTextToHtml: true,
        skipImageLinks: true,
        skipTextLinks: true,
      });
      compared++;
      if (ours !== (parsed.text ?? "")) differing.push(raw.origin);
    }
    expect(compared).toBeGreaterThan(1200);
    expect(differing).toEqual([]);
  });
});

describe("unflowLikeMailinfo", () => {
  it("joins soft breaks, unstuffs one space, keeps the signature separator", () => {
    expect(unflowLikeMailinfo("a \nb\n  c\n-- \nsig \nend\n", false)).toBe(
      "a b\n c\n-- \nsig end\n",
    );
  });

  it("DelSp=yes drops the space of the soft break", () => {
    expect(unflowLikeMailinfo("long wo \nrd\n", true)).toBe("long word\n");
  });

  it("knows nothing of quote depth (RFC 3676 does): `> ` lines join like any other", () => {
    expect(unflowLikeMailinfo("> a \n> b\n", false)).toBe("> a > b\n");
  });
});
