import path from "node:path";
import { cacheRoot } from "../src/apply/tree.js";
import type { Config } from "../src/config.js";
import { maildirSender, smtpSender, type MailSender } from "../src/notify/mail.js";

/** The dry run's Maildir, for replies and digests alike: `mail.outboxDir`, else `<cache>/outbox`. */
export const outboxDir = (config: Config): string =>
  config.mail.outboxDir ?? path.join(cacheRoot(config.cacheDir), "outbox");

/** Where the service's mail goes: the outbox Maildir, and SMTP when `mail.smtp` is set. */
export function mailSenders(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): { outbox: MailSender; smtp: MailSender | null } {
  const { smtp } = config.mail;
  return {
    outbox: maildirSender(outboxDir(config)),
    smtp: smtp ? smtpSender(smtp, env[smtp.passwordEnv] || undefined) : null,
  };
}
