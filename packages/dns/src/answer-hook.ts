import type { DnsClient } from './autopath.js';
import type { DnsMessage } from './wire.js';

/** The pod (or bare address) an answer goes to, as given to a {@link DnsAnswerHook}. */
export type DnsAnswerClient = Pick<DnsClient, 'ip'> &
  Partial<Pick<DnsClient, 'namespace' | 'name'>>;

/**
 * Called by a {@link DnsServer} with the addresses of an answer before the answer is released to
 * the client, so a policy can let the client reach exactly what it resolved (FQDN egress). The
 * server waits for {@link onAnswer} (and releases the answer even when it rejects, counting the
 * failure in `podnet_dns_answer_hook_errors_total`).
 */
export interface DnsAnswerHook {
  /**
   * Whether answers to `ip` go through {@link onAnswer}. Called for every answer while the hook
   * is set: keep it a lookup. Answers to other clients are released at once.
   */
  watches(ip: string): boolean;
  /**
   * `name` was resolved for `client` to `addrs` (A and AAAA data reached from `name` through the
   * answer's CNAME chain), valid for `ttl` seconds (the least TTL on that chain).
   */
  onAnswer(
    client: DnsAnswerClient,
    name: string,
    addrs: readonly string[],
    ttl: number,
  ): Promise<void>;
}

/** The addresses an answer gives for its question, through its CNAME chain. */
export interface AnswerAddresses {
  /** The question's name then each CNAME target followed, lower case without the trailing dot. */
  names: string[];
  addrs: string[];
  /** The least TTL of the CNAMEs followed and the address records. */
  ttl: number;
}

/**
 * Follows the answer section from the question's name through CNAMEs (at most 16, no loops) and
 * collects the A and AAAA data owned by the names reached. Null without a question or addresses.
 * Pure.
 */
export function answerAddresses(msg: DnsMessage): AnswerAddresses | null {
  const q = msg.questions[0];
  if (!q) return null;
  const start = lower(q.name);
  const reached = new Set([start]);
  const names = [start];
  let ttl = Number.POSITIVE_INFINITY;
  let current = start;
  for (let hop = 0; hop < 16; hop++) {
    const cname = msg.answers.find((r) => r.type === 'CNAME' && lower(r.name) === current);
    if (!cname || typeof cname.data !== 'string') break;
    const next = lower(cname.data);
    if (reached.has(next)) break;
    ttl = Math.min(ttl, cname.ttl);
    reached.add(next);
    names.push(next);
    current = next;
  }
  const addrs: string[] = [];
  let addrTtl = Number.POSITIVE_INFINITY;
  for (const r of msg.answers) {
    if ((r.type === 'A' || r.type === 'AAAA') && reached.has(lower(r.name))) {
      if (typeof r.data === 'string' && !addrs.includes(r.data)) addrs.push(r.data);
      addrTtl = Math.min(addrTtl, r.ttl);
    }
  }
  if (addrs.length === 0) return null;
  return { names, addrs, ttl: Math.min(ttl, addrTtl) };
}

function lower(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}
