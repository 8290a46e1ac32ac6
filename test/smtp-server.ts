import { ImapFlow } from "imapflow";
import { SMTPServer, type SMTPServerSession } from "smtp-server";

/** One mail an SMTP client handed over: its envelope and its bytes. */
export interface ReceivedMail {
  from: string;
  to: string[];
  raw: Buffer;
  /** When the DATA command ended (ms since the epoch). */
  receivedAt: number;
  /** With `deliverTo`: when the mailbox had stored it, before the client got its 250. */
  deliveredAt?: number;
}

/** An IMAP mailbox the server delivers into (a test's Dovecot account). */
export interface DeliveryMailbox {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Default `INBOX`. */
  mailbox?: string;
}

export interface SmtpServerOptions {
  /**
   * Deliver each mail into this mailbox, as an MTA's local delivery does: a `Return-Path`
   * and a `Received` header are put on top and the mail is stored by IMAP APPEND. Only then
   * is the client told 250; a mailbox that refuses it makes the answer a 451.
   */
  deliverTo?: DeliveryMailbox;
}

export interface TestSmtpServer {
  port: number;
  received: ReceivedMail[];
  /** Answer the next `count` DATA commands with a temporary failure (451). */
  failNext(count: number): void;
  close(): Promise<void>;
}

/** The trace headers a final delivery adds (RFC 5321, 4.4). */
function traceHeaders(session: SMTPServerSession, from: string, at: Date): string {
  const helo = session.hostNameAppearsAs || "unknown";
  return (
    `Return-Path: <${from}>\r\n` +
    `Received: from ${helo} (${session.remoteAddress})\r\n` +
    `\tby hypwatch-test-smtp with ESMTP id ${session.id};\r\n` +
    `\t${at.toUTCString().replace("GMT", "+0000")}\r\n`
  );
}

async function append(mailbox: DeliveryMailbox, raw: Buffer): Promise<void> {
  const client = new ImapFlow({
    host: mailbox.host,
    port: mailbox.port,
    secure: false,
    auth: { user: mailbox.user, pass: mailbox.password },
    logger: false,
  });
  await client.connect();
  try {
    const stored = await client.append(mailbox.mailbox ?? "INBOX", raw);
    if (!stored) throw new Error(`the mailbox ${mailbox.mailbox ?? "INBOX"} refused the mail`);
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/**
 * A real SMTP server on loopback (nodemailer's smtp-server): the client goes through the
 * whole conversation (EHLO, MAIL FROM, RCPT TO, DATA), and what it hands over is kept, and
 * with `deliverTo` stored in a real mailbox.
 */
export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  let failures = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        if (failures > 0) {
          failures -= 1;
          const error = Object.assign(new Error("try again later"), { responseCode: 451 });
          callback(error);
          return;
        }
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
        const mail: ReceivedMail = {
          from,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          receivedAt: Date.now(),
        };
        const mailbox = options.deliverTo;
        if (!mailbox) {
          received.push(mail);
          callback();
          return;
        }
        // One copy into the one mailbox, whatever the recipients: every address of the
        // test lands in the same account.
        const trace = Buffer.from(traceHeaders(session, from, new Date(mail.receivedAt)));
        append(mailbox, Buffer.concat([trace, mail.raw])).then(
          () => {
            received.push({ ...mail, deliveredAt: Date.now() });
            callback();
          },
          (error: unknown) => {
            const reason = error instanceof Error ? error.message : String(error);
            callback(Object.assign(new Error(`delivery failed: ${reason}`), { responseCode: 451 }));
          },
        );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.server.address();
  if (!address || typeof address === "string") throw new Error("SMTP server has no port");
  return {
    port: address.port,
    received,
    failNext(count) {
      failures = count;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
