/**
 * One attack a hostile sender (or a hostile patch) can try, and how it went. `npm run attack`
 * runs every case and prints a table; a case whose `held` is false fails the run.
 */
export interface AttackCase {
  /** Short name, e.g. "umount the private mounts". */
  name: string;
  /** The class of attack: "escape", "read", "persistence", "exhaustion", "mail", "service". */
  kind: "escape" | "read" | "persistence" | "exhaustion" | "mail" | "service";
  run(): Promise<AttackOutcome>;
}

export interface AttackOutcome {
  /** True when the defence held: no escape, no leak, no plant run, the bound hit and named. */
  held: boolean;
  /** What happened, in one line (the verdict or error hypwatch gave, what the attacker saw). */
  outcome: string;
}
