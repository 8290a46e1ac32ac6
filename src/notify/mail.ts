import { createHash, randomBytes } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { createTransport } from "nodemailer";
import MailComposer from "nodemailer/lib/mail-composer";
import type { MailConfig } from "../config.js";
import { HypwatchError } from "../errors.js";
import { emailOf } from "../mail/index.js";

/** One mail the service writes: plain text, and optionally an HTML alternative (digests). */
export interface OutgoingMail {
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  /** Without angle brackets; on the bot's own domain. */
  messageId: string;
  inReplyTo: string | null;
  /** Oldest first, without angle brackets. */
  references: string[];
  text: string;
  html?: string;
  /** Extra header fields (`Auto-Submitted`, `X-Hypwatch-...`). */
  headers?: Record<string, string>;
}

/** Where a composed mail went: a path in the outbox Maildir, or the SMTP server's reply. */
export interface Delivery {
  via: "maildir" | "smtp";
  detail: string;
}

export interface MailSender {
  readonly via: Delivery["via"];
  send(mail: OutgoingMail): Promise<Delivery>;
  close(): void;
}

/** The SMTP server refused a mail or could not be reached; retried by the report job. */
export class MailSendError extends HypwatchError {
  readonly kind = "upstream";
  constructor(messageId: string, reason: string) {
    super(`sending <${messageId}>: ${reason}`);
  }
}

/**
 * A mail as bytes: utf-8 plain text (quoted-printable only where a line needs it), never
 * format=flowed, with the bot's own Message-ID and the thread headers set. Every mail is
 * marked `Auto-Submitted: auto-generated`, so other bots (and this one) do not answer it.
 */
export async function composeMail(mail: OutgoingMail): Promise<Buffer> {
  const composer = new MailComposer({
    from: mail.from,
    to: mail.to,
    cc: mail.cc,
    subject: mail.subject,
    messageId: `<${mail.messageId}>`,
    inReplyTo: mail.inReplyTo ? `<${mail.inReplyTo}>` : undefined,
    references: mail.references.map((id) => `<${id}>`),
    text: { content: mail.text, contentType: "text/plain; charset=utf-8" },
    html: mail.html,
    headers: { "Auto-Submitted": "auto-generated", ...mail.headers },
    textEncoding: "quoted-printable",
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return composer.compile().build();
}

/** A Message-ID for a side effect: the same key gives the same id, so a resend is recognised. */
export function effectMessageId(idempotencyKey: string, domain: string): string {
  const hash = createHash("sha256").update(idempotencyKey).digest("hex").slice(0, 24);
  return `hypwatch-${hash}@${domain}`;
}

/**
 * The dry run: each mail written to a Maildir (`new/`), named after its Message-ID, so the
 * same mail written twice is one file. Any mail client reads it.
 */
export function maildirSender(dir: string): MailSender {
  return {
    via: "maildir",
    async send(mail) {
      const raw = await composeMail(mail);
      await Promise.all(
        ["tmp", "new", "cur"].map((d) => mkdir(path.join(dir, d), { recursive: true })),
      );
      const name = `${createHash("sha256").update(mail.messageId).digest("hex").slice(0, 32)}.${hostname()}`;
      const tmp = path.join(dir, "tmp", `${name}.${randomBytes(4).toString("hex")}`);
      await writeFile(tmp, raw);
      const file = path.join(dir, "new", name);
      await rename(tmp, file);
      return { via: "maildir", detail: file };
    },
    close() {},
  };
}

/** Mail sent over SMTP (nodemailer), the envelope from the mail's own recipients. */
export function smtpSender(smtp: NonNullable<MailConfig["smtp"]>, password?: string): MailSender {
  const transport = createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    auth: smtp.user ? { user: smtp.user, pass: password ?? "" } : undefined,
    connectionTimeout: 30_000,
    greetingTimeout: 30_000,
    socketTimeout: 60_000,
  });
  return {
    via: "smtp",
    async send(mail) {
      const raw = await composeMail(mail);
      const from = emailOf(mail.from);
      const to = [...mail.to, ...mail.cc].map(emailOf);
      try {
        const info = await transport.sendMail({ envelope: { from, to }, raw });
        return { via: "smtp", detail: String(info.response) };
      } catch (error) {
        throw new MailSendError(
          mail.messageId,
          error instanceof Error ? error.message : String(error),
        );
      }
    },
    close() {
      transport.close();
    },
  };
}
