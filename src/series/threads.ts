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

function isAncestor<T extends Threadable>(candidate: ThreadNode<T>, node: ThreadNode<T>): boolean {
  for (let at: ThreadNode<T> | null = node; at; at = at.parent) {
    if (at === candidate) return true;
  }
  return false;
}

function link<T extends Threadable>(child: ThreadNode<T>, parent: ThreadNode<T>): boolean {
  // A parent that descends from the child would make a loop: bad headers, refuse it.
  if (isAncestor(child, parent)) return false;
  if (child.parent) {
    const siblings = child.parent.children;
    siblings.splice(siblings.indexOf(child), 1);
  }
  child.parent = parent;
  parent.children.push(child);
  return true;
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
    const chain: string[] = [];
    for (const ref of [...message.references, message.inReplyTo]) {
      const id = cleanId(ref);
      if (id && id !== node.messageId) {
        const at = chain.indexOf(id);
        if (at >= 0) chain.splice(at, 1);
        chain.push(id);
      }
    }
    chains.set(node, chain);
    for (let i = chain.length - 1; i >= 0; i--) {
      const parentId = chain[i];
      if (parentId !== undefined && link(node, nodeFor(parentId))) break;
    }
  }

  // Placeholders take their parent from the References of the messages below them.
  for (const [, chain] of chains) {
    for (let i = chain.length - 1; i > 0; i--) {
      const child = nodes.get(chain[i] ?? "");
      const parentId = chain[i - 1];
      if (!child || child.message !== null || child.parent || parentId === undefined) continue;
      link(child, nodeFor(parentId));
    }
  }

  const roots: ThreadNode<T>[] = [];
  const seen = new Set<ThreadNode<T>>();
  for (const node of order) {
    let root = node;
    while (root.parent) root = root.parent;
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
