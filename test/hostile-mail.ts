import { gzipSync } from "node:zlib";

/** Hostile mail built in the tests that prove the limits; every piece says what it is. */

export interface MailParts {
  id: string;
  subject: string;
  from?: string;
  inReplyTo?: string;
  references?: string[];
  headers?: string[];
  body?: string;
}

/** One RFC 5322 message. */
export function mail(parts: MailParts): string {
  const lines = [
    `From: ${parts.from ?? "Eve Sender <eve@example.org>"}`,
    `Message-ID: <${parts.id}>`,
    `Subject: ${parts.subject}`,
    "Date: Tue, 28 Jan 2020 10:49:25 -0800",
  ];
  if (parts.inReplyTo) lines.push(`In-Reply-To: <${parts.inReplyTo}>`);
  if (parts.references?.length)
    lines.push(`References: ${parts.references.map((r) => `<${r}>`).join(" ")}`);
  lines.push(...(parts.headers ?? []));
  return `${lines.join("\n")}\n\n${parts.body ?? "text\n"}`;
}

/** A diff of one hyp file, so a mail is a patch that touches arm64 KVM. */
export const HYP_DIFF = [
  "---",
  "diff --git a/arch/arm64/kvm/hyp/nvhe/switch.c b/arch/arm64/kvm/hyp/nvhe/switch.c",
  "--- a/arch/arm64/kvm/hyp/nvhe/switch.c",
  "+++ b/arch/arm64/kvm/hyp/nvhe/switch.c",
  "@@ -1 +1 @@",
  "-a",
  "+b",
  "",
].join("\n");

/** Messages as one mboxrd text. */
export function mbox(messages: string[]): string {
  return messages.map((m) => `From mboxrd@z Thu Jan  1 00:00:00 1970\n${m}\n`).join("");
}

/** `depth` multipart containers, each inside the last. */
export function nestedMultipart(depth: number): string {
  const open: string[] = [];
  const close: string[] = [];
  for (let i = 0; i < depth; i++) {
    open.push(`--b${i}`, `Content-Type: multipart/mixed; boundary="b${i + 1}"`, "");
    close.unshift(`--b${i}--`);
  }
  const inner = [`--b${depth}`, "Content-Type: text/plain", "", "deep", `--b${depth}--`];
  return [...open, ...inner, ...close, ""].join("\n");
}

/** One multipart/mixed body of `parts` small text parts. */
export function manyParts(parts: number): string {
  const out: string[] = [];
  for (let i = 0; i < parts; i++) out.push("--p", "Content-Type: text/plain", "", `part ${i}`);
  out.push("--p--", "");
  return out.join("\n");
}

/**
 * A gzip bomb: `inflated` bytes of one mbox whose first message is ordinary and whose second
 * is zeros, compressed about a thousandfold.
 */
export function gzipBomb(first: string, inflated: number): Buffer {
  const head = Buffer.from(`${mbox([first])}From mboxrd@z x\nSubject: bomb\n\n`);
  const zeros = Buffer.alloc(Math.max(0, inflated - head.length));
  return gzipSync(Buffer.concat([head, zeros]), { level: 9 });
}
