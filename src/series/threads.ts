import { DEFAULT_MAIL_LIMITS } from "../mail/limits.js";
import { overLimitReason } from "../mail/limits.js";
import { HypwatchError } from "../errors.js";
/** What threading needs from a message. `MailMessage` and the assembler's summaries both fit. */
export interface Threadable {
  messageId: string;
  inReplyTo: string | null;
  /** Oldest first, as in the header. */
  references: string[];
}

export interface ThreadNode<T extends Threadable> {
  messageId: string;
  /** Null for a message that others refer to but that was never seen. */
  message: T | null;
  parent: ThreadNode<T> | null;
  /** In the order their messages were given. */
  children: ThreadNode<T>[];
}

export interface BuildThreadsOptions<T extends Threadable> {
  /**
   * How well a copy was parsed; of two copies of one Message-ID (a cross-posted mail) the
   * higher scoring one is kept, the first one on a tie.
   */
  parseScore?: (message: T) => number;
  /**
   * Replies above a message when it is threaded; a message that would sit deeper starts a
   * thread of its own (checking for loops walks up the thread, so depth costs time).
   */
  maxDepth?: number;
  /** Direct replies to one message; later ones start a thread of their own. */
  maxFanOut?: number;
  /** Called for each message a limit kept out of its thread. */
  onLimit?: (error: ThreadLimitError) => void;
}

/** A message kept out of its thread by a depth or fan-out limit; it starts its own thread. */
export class ThreadLimitError extends HypwatchError {
  // The thread is as deep or wide as the mail made it.
  readonly kind = "permanent";
  constructor(
    readonly messageId: string,
    readonly reason: string,
  ) {
    super(`<${messageId}>: ${reason}; threaded on its own`);
  }
}

/**
 * How well a parsed mail came through: a diff that was found, a date that parsed and fewer
 * warnings make a copy better. Works on any message that has those fields.
 */
export function defaultParseScore(message: Threadable): number {
  const m = message as Partial<{ patch: unknown; date: unknown; warnings: unknown[] }>;
  return (m.patch ? 4 : 0) + (m.date ? 1 : 0) - (Array.isArray(m.warnings) ? m.warnings.length : 0);
}

function cleanId(id: string | null | undefined): string | null {
  if (!id) return null;
  const trimmed = id.trim().replace(/^<+/, "").replace(/>+$/, "");
  return trimmed.length > 0 && !/\s/.test(trimmed) ? trimmed : null;
}

type LinkOutcome = "linked" | "loop" | "too-deep" | "too-wide";

/**
 * Whether `candidate` is `node` or above it, walking at most `maxSteps` parents; null when
 * the walk is longer (the thread is deeper than allowed).
 */
function isAncestor<T extends Threadable>(
  candidate: ThreadNode<T>,
  node: ThreadNode<T>,
  maxSteps: number,
): boolean | null {
  let steps = 0;
  for (let at: ThreadNode<T> | null = node; at; at = at.parent) {
    if (at === candidate) return true;
    if (++steps > maxSteps) return null;
  }
  return false;
}

function link<T extends Threadable>(
  child: ThreadNode<T>,
  parent: ThreadNode<T>,
  maxDepth: number,
  maxFanOut: number,
): LinkOutcome {
  // A parent that descends from the child would make a loop: bad headers, refuse it.
  const loop = isAncestor(child, parent, maxDepth);
  if (loop === null) return "too-deep";
  if (loop) return "loop";
  if (parent.children.length >= maxFanOut) return "too-wide";
  if (child.parent) {
    const siblings = child.parent.children;
    siblings.splice(siblings.indexOf(child), 1);
  }
  child.parent = parent;
  parent.children.push(child);
  return "linked";
}

/** The root above each node, found once per node: a long chain costs its length, not its square. */
function rootFinder<T extends Threadable>(): (node: ThreadNode<T>) => ThreadNode<T> {
  const rootOf = new Map<ThreadNode<T>, ThreadNode<T>>();
  return (node) => {
    const path: ThreadNode<T>[] = [];
    let at = node;
    let known = rootOf.get(at);
    while (known === undefined && at.parent) {
      path.push(at);
      at = at.parent;
      known = rootOf.get(at);
    }
    const root = known ?? at;
    rootOf.set(at, root);
    for (const step of path) rootOf.set(step, root);
    return root;
  };
}

/** References then In-Reply-To, each id once at its last place, the message's own id left out. */
function referenceChain(message: Threadable, ownId: string): string[] {
  const ids = [...message.references, message.inReplyTo];
  const seen = new Set<string>();
  const chain: string[] = [];
  for (let i = ids.length - 1; i >= 0; i--) {
    const id = cleanId(ids[i]);
    if (id && id !== ownId && !seen.has(id)) {
      seen.add(id);
      chain.push(id);
    }
  }
  return chain.reverse();
}

/**
 * Thread messages by Message-ID, In-Reply-To and References (after JWZ). A message's parent is
 * its newest reference (In-Reply-To, else the last of References), an older one when that
 * would close a loop. Parents never seen become placeholder nodes, chained by the References
 * of their children, so the replies to a lost mail still share one parent. A Message-ID seen
 * twice is one message. Returns the roots, in the order of their first message.
 */
export function buildThreads<T extends Threadable>(
  messages: Iterable<T>,
  options: BuildThreadsOptions<T> = {},
): ThreadNode<T>[] {
  const score = options.parseScore ?? defaultParseScore;
  const maxDepth = options.maxDepth ?? DEFAULT_MAIL_LIMITS.maxThreadDepth;
  const maxFanOut = options.maxFanOut ?? DEFAULT_MAIL_LIMITS.maxThreadFanOut;
  const nodes = new Map<string, ThreadNode<T>>();
  const order: ThreadNode<T>[] = [];
  const nodeFor = (id: string): ThreadNode<T> => {
    let node = nodes.get(id);
    if (!node) {
      node = { messageId: id, message: null, parent: null, children: [] };
      nodes.set(id, node);
    }
    return node;
  };

  for (const message of messages) {
    const id = cleanId(message.messageId);
    if (!id) continue;
    const node = nodeFor(id);
    if (node.message === null) {
      node.message = message;
      order.push(node);
    } else if (score(message) > score(node.message)) {
      node.message = message;
    }
  }

  const chains = new Map<ThreadNode<T>, string[]>();
  for (const node of order) {
    const message = node.message;
    if (!message) continue;
    const chain = referenceChain(message, node.messageId);
    chains.set(node, chain);
    for (let i = chain.length - 1; i >= 0; i--) {
      const parentId = chain[i];
      if (parentId === undefined) continue;
      const outcome = link(node, nodeFor(parentId), maxDepth, maxFanOut);
      if (outcome === "linked") break;
      if (outcome === "loop") continue;
      const reason =
        outcome === "too-deep"
          ? overLimitReason("maxThreadDepth", `reply deeper than ${maxDepth}`, maxDepth)
          : overLimitReason(
              "maxThreadFanOut",
              `more than ${maxFanOut} replies to <${parentId}>`,
              maxFanOut,
            );
      options.onLimit?.(new ThreadLimitError(node.messageId, reason));
      break;
    }
  }

  // Placeholders take their parent from the References of the messages below them.
  for (const [, chain] of chains) {
    for (let i = chain.length - 1; i > 0; i--) {
      const child = nodes.get(chain[i] ?? "");
      const parentId = chain[i - 1];
      if (!child || child.message !== null || child.parent || parentId === undefined) continue;
      // Placeholders are no messages: one a limit keeps out just stays a root.
      link(child, nodeFor(parentId), maxDepth, maxFanOut);
    }
  }

  const roots: ThreadNode<T>[] = [];
  const seen = new Set<ThreadNode<T>>();
  const rootOf = rootFinder<T>();
  for (const node of order) {
    const root = rootOf(node);
    if (!seen.has(root)) {
      seen.add(root);
      roots.push(root);
    }
  }
  return roots;
}

/** Every node of a thread, parents before children, siblings in order. */
export function* walkThread<T extends Threadable>(root: ThreadNode<T>): Generator<ThreadNode<T>> {
  const stack: ThreadNode<T>[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (!node) break;
    yield node;
    for (let i = node.children.length - 1; i >= 0; i--) {
      const child = node.children[i];
      if (child) stack.push(child);
    }
  }
}
