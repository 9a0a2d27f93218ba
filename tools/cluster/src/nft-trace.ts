/**
 * A pure reader of `nft monitor trace` output (nftables 1.0, with or without `-a`): every line is
 * `trace id ID FAMILY TABLE CHAIN` followed by `packet: <headers>`, `rule <rule> [# handle N]
 * (verdict V [TARGET])`, `verdict V [TARGET]` or `policy V`. Lines of one packet share the id
 * (per namespace: the id is kernel-internal and repeats nothing across namespaces).
 */

/** The header fields of a traced packet the live explainer needs. */
export interface TracedPacket {
  saddr?: string;
  daddr?: string;
  /** `tcp`, `udp`, `sctp`, `icmp`, `icmpv6`. */
  l4proto?: string;
  sport?: number;
  dport?: number;
  iif?: string;
  oif?: string;
}

/** One line of the trace. */
export interface TraceEvent {
  id: string;
  family: string;
  table: string;
  chain: string;
  kind: 'packet' | 'rule' | 'verdict' | 'policy';
  /** `packet`: the headers as the hook saw them. */
  packet?: TracedPacket;
  /** `rule`: the rule's text (without its handle). */
  rule?: string;
  /** `rule`: its handle when the monitor ran with `-a`. */
  handle?: number;
  /** `rule`, `verdict`, `policy`: `accept`, `drop`, `continue`, `jump`, `goto`, `return`, ... */
  verdict?: string;
  /** The chain a `jump`/`goto` verdict names. */
  target?: string;
}

/** The rule (or chain policy) that decided a packet's fate in one hook. */
export interface TraceDecision {
  family: string;
  table: string;
  chain: string;
  /** The rule's text; absent for a chain policy. */
  rule?: string;
  handle?: number;
  verdict: string;
}

/** Every event of one packet in one namespace, in order. */
export interface PacketTrace {
  id: string;
  /** The packet as the first hook saw it. */
  packet: TracedPacket;
  /** The packet as the last hook saw it (after a DNAT its destination differs). */
  lastPacket: TracedPacket;
  events: TraceEvent[];
  /** The first `drop`/`reject` rule or policy met, if any: the packet ended there. */
  dropped?: TraceDecision;
}

const LINE =
  /^trace id ([0-9a-f]+) (ip6?|inet|arp|bridge|netdev) (\S+) (\S+) (packet: |rule |verdict |policy )(.*)$/;

/** Reads the header fields nftables prints after `packet:`. */
export function parsePacketHeaders(text: string): TracedPacket {
  const p: TracedPacket = {};
  const words = text.trim().split(/\s+/);
  for (let i = 0; i < words.length; i++) {
    const [a, b, c] = [words[i], words[i + 1], words[i + 2]];
    if ((a === 'ip' || a === 'ip6') && (b === 'saddr' || b === 'daddr') && c) {
      p[b] = c;
      i += 2;
    } else if ((a === 'ip' && b === 'protocol') || (a === 'ip6' && b === 'nexthdr')) {
      if (c) p.l4proto = c;
      i += 2;
    } else if (
      (a === 'tcp' || a === 'udp' || a === 'sctp') &&
      (b === 'sport' || b === 'dport') &&
      c
    ) {
      p.l4proto = a;
      p[b] = Number(c);
      i += 2;
    } else if ((a === 'iif' || a === 'oif') && b) {
      p[a] = b.replace(/^"|"$/g, '');
      i += 1;
    } else if ((a === 'icmp' || a === 'icmpv6') && b === 'type') {
      p.l4proto ??= a;
    }
  }
  return p;
}

/** Parses `nft monitor trace` output line by line; lines that are not trace events are skipped. */
export function parseNftTrace(text: string): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (const raw of text.split('\n')) {
    const m = LINE.exec(raw.trimEnd());
    if (!m) continue;
    const [, id = '', family = '', table = '', chain = '', kindWord, rest = ''] = m;
    const base = { id, family, table, chain };
    const body = rest.trim();
    if (kindWord === 'packet: ') {
      out.push({ ...base, kind: 'packet', packet: parsePacketHeaders(body) });
    } else if (kindWord === 'rule ') {
      const v = /^(.*?)\s*(?:# handle (\d+)\s*)?\(verdict (\S+)(?: (\S+))?\)$/.exec(body);
      if (!v) continue;
      out.push({
        ...base,
        kind: 'rule',
        rule: v[1]!,
        ...(v[2] ? { handle: Number(v[2]) } : {}),
        verdict: v[3]!,
        ...(v[4] ? { target: v[4] } : {}),
      });
    } else {
      const [verdict, target] = body.split(/\s+/);
      out.push({
        ...base,
        kind: kindWord === 'policy ' ? 'policy' : 'verdict',
        verdict: verdict!,
        ...(target ? { target } : {}),
      });
    }
  }
  return out;
}

const FINAL_DROP = new Set(['drop', 'reject']);

/**
 * Groups events by packet, in the order each packet first appears. The kernel derives the trace id
 * from the packet buffer's address, so a later packet may reuse an earlier one's id: a `packet:`
 * line for a base chain the current packet already met starts a new packet.
 */
export function groupTraces(events: readonly TraceEvent[]): PacketTrace[] {
  const out: PacketTrace[] = [];
  const byId = new Map<string, { trace: PacketTrace; hooks: Set<string> }>();
  for (const e of events) {
    let cur = byId.get(e.id);
    const hook = `${e.family} ${e.table} ${e.chain}`;
    if (!cur || (e.kind === 'packet' && cur.hooks.has(hook))) {
      cur = { trace: { id: e.id, packet: {}, lastPacket: {}, events: [] }, hooks: new Set() };
      byId.set(e.id, cur);
      out.push(cur.trace);
    }
    if (e.kind === 'packet') cur.hooks.add(hook);
    const t = cur.trace;
    t.events.push(e);
    if (e.kind === 'packet' && e.packet) {
      if (Object.keys(t.packet).length === 0) t.packet = e.packet;
      t.lastPacket = e.packet;
    }
    if (!t.dropped && e.verdict && FINAL_DROP.has(e.verdict) && e.kind !== 'verdict') {
      t.dropped = {
        family: e.family,
        table: e.table,
        chain: e.chain,
        ...(e.rule !== undefined ? { rule: e.rule } : {}),
        ...(e.handle !== undefined ? { handle: e.handle } : {}),
        verdict: e.verdict,
      };
    }
  }
  return out;
}

/** `TABLE CHAIN rule "RULE" (handle N)` or `TABLE CHAIN policy V`: one decision, readable. */
export function describeDecision(d: TraceDecision): string {
  const where = `${d.family} ${d.table} chain ${d.chain}`;
  if (d.rule === undefined) return `${where} policy ${d.verdict}`;
  return `${where} rule "${d.rule}"${d.handle !== undefined ? ` (handle ${d.handle})` : ''}`;
}
