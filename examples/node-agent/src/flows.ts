import type { VerdictLogRecord } from '@podnet/netpol';
import { AgentError } from './errors.js';
import { type FlowEndpoint, type FlowIndex, formatEndpoint } from './flow-index.js';
import type { MetricFamily } from './http.js';

/** A flow's verdict: dropped, allowed, or let through by an audited policy that would drop it. */
export type FlowVerdict = 'drop' | 'allow' | 'would-drop';
/** The verdicts, in the order tables and counters list them. */
export const FLOW_VERDICTS: readonly FlowVerdict[] = ['drop', 'allow', 'would-drop'];

/** One verdict on one new flow, as the node saw it. */
export interface FlowRecord {
  type: 'flow';
  /** Sequence number on this node (gaps: records this reader lost). */
  seq: number;
  /** ISO time of the packet (the kernel's, when the record carries it). */
  time: string;
  node: string;
  verdict: FlowVerdict;
  direction: 'ingress' | 'egress';
  protocol: string;
  source: FlowEndpoint & { port?: number };
  destination: FlowEndpoint & { port?: number };
  /** Which tier decided. */
  tier: 'Admin' | 'NetworkPolicy' | 'Baseline';
  /** Policies that decided (`namespace/name` for NetworkPolicy, `name` for ClusterNetworkPolicy). */
  policies: string[];
  /** Policies left out of the kernel's log prefix for length. */
  morePolicies?: number;
  /** The deciding rule; absent when the subject was isolated and no rule allowed the flow. */
  rule?: { index: number; name?: string };
  /** One sentence for people. */
  summary: string;
}

/** Why records never reached a reader (see {@link FlowLoss}). */
export type FlowLossReason =
  | 'slow-reader'
  | 'reader-restart'
  | 'undecodable'
  | 'kernel'
  | 'rate-limited';

/** Records that never reached a reader, and why. */
export interface FlowLoss {
  type: 'lost';
  seq: number;
  time: string;
  node: string;
  /** How many records (unknown for a reader restart: 0). */
  count: number;
  /**
   * `slow-reader`: the ring buffer overwrote records this reader had not read yet;
   * `reader-restart`: the NFLOG capture stopped and was restarted (records in between are gone);
   * `undecodable`: NFLOG records the decoder could not read;
   * `kernel`: records the kernel could not queue to the capture's NFLOG socket (buffer full);
   * `rate-limited`: records the kernel's log rate limit suppressed (`flows.logRateLimit`; the
   * packets kept their verdict; counted by the policy table's `log_limited` counter).
   */
  reason: FlowLossReason;
  message: string;
}

/** A line of the flow stream. */
export type FlowEvent = FlowRecord | FlowLoss;

/** Which records a reader wants; every field narrows. */
export interface FlowFilter {
  /** `namespace/name`: either end is this pod. */
  pod?: string;
  /** Either end is a pod or Service in this namespace. */
  namespace?: string;
  verdict?: FlowVerdict;
  /** Records at or after this time (ms since the epoch). */
  since?: number;
}

/** Options of {@link FlowRecorder}. */
export interface FlowRecorderOptions {
  node: string;
  index: FlowIndex;
  /** Ring buffer size in events. Default 4096. */
  capacity?: number;
  /**
   * Fraction (0-1) of `allow` records kept (the others are counted as sampled out, not lost).
   * Default 1. Drops and would-drops are always kept.
   */
  sampleAllowed?: number;
  /** Distinct policies with their own counter labels; the rest count as `other`. Default 100. */
  maxPolicyLabels?: number;
  /** Clock (ms since the epoch) for events without a kernel time. */
  now?: () => number;
}

const VERDICT_OF: Record<VerdictLogRecord['verdict'], FlowVerdict> = {
  drop: 'drop',
  accept: 'allow',
  'would-drop': 'would-drop',
};

/** A reader's position in a {@link FlowRecorder}'s ring. */
export interface FlowCursor {
  /** The next sequence number to read. */
  next: number;
  /** Records this reader lost so far. */
  lost: number;
}

/**
 * The agent's flow records: turns verdict log records into {@link FlowRecord}s (both ends
 * resolved through a {@link FlowIndex}), keeps the last `capacity` events in a ring buffer,
 * counts verdicts per policy x verdict x direction with bounded labels, and hands readers the
 * events after their cursor, reporting what the ring overwrote before they read it. Pure: no
 * I/O; readers are woken through {@link FlowRecorder.onAppend}.
 */
export class FlowRecorder {
  readonly node: string;
  readonly capacity: number;
  private readonly index: FlowIndex;
  private readonly ring: (FlowEvent | undefined)[];
  /** Sequence number of the next event. */
  private nextSeq = 1;
  private readonly sample: number;
  private sampleAcc = 0;
  private readonly maxLabels: number;
  private readonly now: () => number;
  private readonly listeners = new Set<() => void>();
  /** policy -> `verdict|direction` -> count */
  private readonly counts = new Map<string, Map<string, number>>();
  readonly stats = {
    received: 0,
    sampledOut: 0,
    lostSlowReader: 0,
    readerRestarts: 0,
    undecodable: 0,
    lostKernel: 0,
    rateLimited: 0,
  };

  constructor(options: FlowRecorderOptions) {
    this.node = options.node;
    this.index = options.index;
    this.capacity = options.capacity ?? 4096;
    if (!Number.isInteger(this.capacity) || this.capacity < 1)
      throw new AgentError(
        'INVALID_CONFIG',
        `flows.bufferSize: want an integer >= 1, got ${this.capacity}`,
      );
    this.sample = options.sampleAllowed ?? 1;
    if (!(this.sample >= 0 && this.sample <= 1))
      throw new AgentError(
        'INVALID_CONFIG',
        `flows.sampleAllowed: want a number 0-1, got ${this.sample}`,
      );
    this.maxLabels = options.maxPolicyLabels ?? 100;
    this.now = options.now ?? Date.now;
    this.ring = new Array(this.capacity);
  }

  /** The oldest sequence number still in the ring. */
  get oldestSeq(): number {
    return Math.max(1, this.nextSeq - this.capacity);
  }

  /** The sequence number the next event will get. */
  get headSeq(): number {
    return this.nextSeq;
  }

  /** Registers a callback run after every append; returns its removal. */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Turns one verdict log record into a flow record (or nothing, when sampled out). */
  add(rec: VerdictLogRecord): FlowRecord | undefined {
    this.stats.received++;
    const verdict = VERDICT_OF[rec.verdict];
    if (verdict === 'allow' && !this.keepAllowed()) {
      this.stats.sampledOut++;
      return undefined;
    }
    const policies = rec.policies.map((p) =>
      p.namespace === undefined ? p.name : `${p.namespace}/${p.name}`,
    );
    for (const p of policies.length > 0 ? policies : ['(none)'])
      this.count(p, verdict, rec.direction);
    // resolve() answers a fresh object: the port is added to it (a spread at the head of an
    // object literal is V8's slow path, tens of µs per record in a storm)
    const source: FlowRecord['source'] = this.index.resolve(rec.src);
    if (rec.srcPort !== undefined) source.port = rec.srcPort;
    const destination: FlowRecord['destination'] = this.index.resolve(rec.dst);
    if (rec.dstPort !== undefined) destination.port = rec.dstPort;
    const what = rec.dstPort === undefined ? rec.protocol : `${rec.protocol}/${rec.dstPort}`;
    const decided = `${rec.tier === 'NetworkPolicy' ? 'NetworkPolicy' : `ClusterNetworkPolicy (${rec.tier})`} ${policies.join(', ')}${rec.morePolicies > 0 ? ` +${rec.morePolicies}` : ''}`;
    const why =
      rec.rule === undefined
        ? `${rec.direction} isolated by ${decided}, no rule allows it`
        : `${decided} ${rec.direction} rule ${rec.rule.index}${rec.rule.name ? ` "${rec.rule.name}"` : ''}`;
    const record: FlowRecord = {
      type: 'flow',
      seq: 0,
      time: rec.time ?? new Date(this.now()).toISOString(),
      node: this.node,
      verdict,
      direction: rec.direction,
      protocol: rec.protocol,
      source,
      destination,
      tier: rec.tier,
      policies,
      ...(rec.morePolicies > 0 ? { morePolicies: rec.morePolicies } : {}),
      ...(rec.rule ? { rule: copyRule(rec.rule) } : {}),
      summary: `${verdict.toUpperCase()} ${formatEndpoint(source)} -> ${formatEndpoint(destination)} ${what}: ${why}${verdict === 'would-drop' ? ' (audit: let through)' : ''}`,
    };
    this.append(record);
    return record;
  }

  /** Records a loss the reader side saw (a capture restart, undecodable input). */
  addLoss(reason: Exclude<FlowLossReason, 'slow-reader'>, count: number, message: string): void {
    if (reason === 'reader-restart') this.stats.readerRestarts++;
    else if (reason === 'kernel') this.stats.lostKernel += count;
    else if (reason === 'rate-limited') this.stats.rateLimited += count;
    else this.stats.undecodable += count;
    this.append({
      type: 'lost',
      seq: 0,
      time: new Date(this.now()).toISOString(),
      node: this.node,
      count,
      reason,
      message,
    });
  }

  private keepAllowed(): boolean {
    const before = Math.floor(this.sampleAcc);
    this.sampleAcc += this.sample;
    return Math.floor(this.sampleAcc) > before;
  }

  private count(policy: string, verdict: FlowVerdict, direction: string): void {
    let label = policy;
    if (!this.counts.has(label) && this.counts.size >= this.maxLabels) label = 'other';
    let m = this.counts.get(label);
    if (!m) {
      m = new Map();
      this.counts.set(label, m);
    }
    const k = `${verdict}|${direction}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }

  private append(e: FlowEvent): void {
    e.seq = this.nextSeq++;
    this.ring[e.seq % this.capacity] = e;
    for (const l of this.listeners) l();
  }

  /** A cursor at the oldest event held (`fromNow`: at the next event). */
  cursor(fromNow = false): FlowCursor {
    return { next: fromNow ? this.nextSeq : this.oldestSeq, lost: 0 };
  }

  /**
   * The events after `cursor` (at most `max`), advancing it. When the ring overwrote events the
   * cursor had not reached, a `slow-reader` {@link FlowLoss} comes first and the loss is counted.
   */
  read(cursor: FlowCursor, max = 256): FlowEvent[] {
    const out: FlowEvent[] = [];
    if (cursor.next < this.oldestSeq) {
      const count = this.oldestSeq - cursor.next;
      cursor.lost += count;
      this.stats.lostSlowReader += count;
      out.push({
        type: 'lost',
        seq: cursor.next,
        time: new Date(this.now()).toISOString(),
        node: this.node,
        count,
        reason: 'slow-reader',
        message: `${count} flow records were overwritten in the agent's ring buffer (${this.capacity}) before this reader got them`,
      });
      cursor.next = this.oldestSeq;
    }
    while (cursor.next < this.nextSeq && out.length < max) {
      const e = this.ring[cursor.next % this.capacity];
      cursor.next++;
      if (e) out.push(e);
    }
    return out;
  }

  /** Prometheus families: verdicts per policy x verdict x direction, and the recorder's own counts. */
  metricFamilies(): MetricFamily[] {
    const samples: { labels: Record<string, string>; value: number }[] = [];
    for (const [policy, m] of [...this.counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      for (const [k, value] of m) {
        const [verdict, direction] = k.split('|') as [string, string];
        samples.push({ labels: { policy, verdict, direction }, value });
      }
    }
    return [
      {
        name: 'podnet_policy_verdicts_total',
        help: `New flows by deciding policy, verdict (drop, allow, would-drop) and direction, from the verdict logs (after ${this.maxLabels} distinct policies the rest count as "other"; a drop by several isolating NetworkPolicies counts for each).`,
        type: 'counter',
        samples,
      },
      {
        name: 'podnet_flow_records_total',
        help: 'Verdict log records read from NFLOG.',
        type: 'counter',
        samples: [{ value: this.stats.received }],
      },
      {
        name: 'podnet_flow_records_sampled_out_total',
        help: 'Allowed-flow records left out by flows.sampleAllowed (not lost: on purpose).',
        type: 'counter',
        samples: [{ value: this.stats.sampledOut }],
      },
      {
        name: 'podnet_flow_records_lost_total',
        help: 'Flow records readers never got: dropped by the kernel before the capture read them (kernel: its NFLOG socket buffer was full), overwritten in the ring before a streaming reader read them (slow-reader), NFLOG input that could not be decoded, or suppressed by the log rate limit in the kernel (rate-limited; the packets kept their verdict).',
        type: 'counter',
        samples: [
          { labels: { reason: 'kernel' }, value: this.stats.lostKernel },
          { labels: { reason: 'slow-reader' }, value: this.stats.lostSlowReader },
          { labels: { reason: 'undecodable' }, value: this.stats.undecodable },
          { labels: { reason: 'rate-limited' }, value: this.stats.rateLimited },
        ],
      },
      {
        name: 'podnet_flow_reader_restarts_total',
        help: 'Times the NFLOG capture stopped and was restarted (records in between are lost).',
        type: 'counter',
        samples: [{ value: this.stats.readerRestarts }],
      },
      {
        name: 'podnet_flow_buffer_events',
        help: 'Events held in the flow ring buffer.',
        type: 'gauge',
        samples: [{ value: Math.min(this.capacity, this.nextSeq - 1) }],
      },
    ];
  }
}

/** A copy of a record's rule, built without a spread (see {@link FlowRecorder.add}). */
function copyRule(r: { index: number; name?: string }): { index: number; name?: string } {
  return r.name === undefined ? { index: r.index } : { index: r.index, name: r.name };
}

/** True when `e` passes `f` (loss events always pass: a reader must see them). */
export function matchesFlowFilter(e: FlowEvent, f: FlowFilter): boolean {
  if (e.type === 'lost') return true;
  if (f.verdict !== undefined && e.verdict !== f.verdict) return false;
  if (f.since !== undefined && Date.parse(e.time) < f.since) return false;
  const ends = [e.source, e.destination];
  if (f.pod !== undefined) {
    const [ns, name] = f.pod.split('/');
    if (!ends.some((x) => x.kind === 'pod' && x.namespace === ns && x.name === name)) return false;
  }
  if (f.namespace !== undefined) {
    if (
      !ends.some((x) => (x.kind === 'pod' || x.kind === 'service') && x.namespace === f.namespace)
    )
      return false;
  }
  return true;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30s`, `5m`, `1.5h`, `2d`, `250ms` in milliseconds; throws naming `field` otherwise. */
export function parseDuration(text: string, field = 'since'): number {
  const m = DURATION.exec(text.trim());
  if (!m)
    throw new AgentError(
      'INVALID_REQUEST',
      `${field}: want a duration such as 30s, 5m or 1h, got ${JSON.stringify(text)}`,
    );
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

/**
 * Reads a flow filter from URL query parameters: `pod=NS/NAME`, `namespace=NS`,
 * `verdict=drop|allow|would-drop`, `since=` an ISO time, milliseconds since the epoch or a
 * duration back from `now` (`30s`, `5m`). Throws `INVALID_REQUEST` naming the parameter.
 */
export function parseFlowFilter(q: URLSearchParams, now = Date.now()): FlowFilter {
  const f: FlowFilter = {};
  const pod = q.get('pod');
  if (pod !== null) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(pod))
      throw new AgentError(
        'INVALID_REQUEST',
        `pod: want NAMESPACE/NAME, got ${JSON.stringify(pod)}`,
      );
    f.pod = pod;
  }
  const ns = q.get('namespace');
  if (ns !== null) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns))
      throw new AgentError(
        'INVALID_REQUEST',
        `namespace: want a namespace name, got ${JSON.stringify(ns)}`,
      );
    f.namespace = ns;
  }
  const verdict = q.get('verdict');
  if (verdict !== null) {
    if (!(FLOW_VERDICTS as readonly string[]).includes(verdict))
      throw new AgentError(
        'INVALID_REQUEST',
        `verdict: want one of ${FLOW_VERDICTS.join(', ')}, got ${JSON.stringify(verdict)}`,
      );
    f.verdict = verdict as FlowVerdict;
  }
  const since = q.get('since');
  if (since !== null) {
    if (/^\d+$/.test(since)) f.since = Number(since);
    else if (DURATION.test(since)) f.since = now - parseDuration(since);
    else {
      const t = Date.parse(since);
      if (Number.isNaN(t))
        throw new AgentError(
          'INVALID_REQUEST',
          `since: want an ISO time, epoch milliseconds or a duration (30s, 5m), got ${JSON.stringify(since)}`,
        );
      f.since = t;
    }
  }
  return f;
}
