import type { DnsTcpStats } from './tcp-server.js';
import { typeName } from './wire.js';

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Upper bounds (seconds) of the `podnet_dns_request_duration_seconds` histogram's buckets. */
export const DNS_DURATION_BUCKETS: readonly number[] = BUCKETS;

/** Counts kept outside a {@link DnsMetrics} (a UDP worker thread's), added with {@link DnsMetrics.add}. */
export interface DnsMetricsCounts {
  /** UDP requests per query type (index 0-255). */
  readonly udpTypes: ArrayLike<number>;
  /** Responses per rcode (index 0-15). */
  readonly responses: ArrayLike<number>;
  /** Responses per histogram bucket (not cumulative), in {@link DNS_DURATION_BUCKETS}' order. */
  readonly buckets: ArrayLike<number>;
  readonly durationSum: number;
  readonly durationCount: number;
  readonly dropped: number;
}

/** Counters of a {@link DnsServer}, rendered in the Prometheus text format. */
export class DnsMetrics {
  private readonly udpTypes = new Float64Array(256);
  private readonly tcpTypes = new Float64Array(256);
  private readonly requests = new Map<string, number>();
  private readonly responses = new Float64Array(16);
  private readonly buckets = new Array<number>(BUCKETS.length).fill(0);
  private durationSum = 0;
  private durationCount = 0;
  cacheHits = 0;
  cacheMisses = 0;
  forwardRequests = 0;
  forwardErrors = 0;
  /** Queries answered by walking the pod's search path on the server (autopath). */
  autopathAnswers = 0;
  /** Answers an answer hook was called for, and the calls that rejected. */
  answerHookCalls = 0;
  answerHookErrors = 0;
  dropped = 0;
  /** Zone updates: full ones, patches, and patches that failed (a full update followed). */
  readonly zoneUpdates = { full: 0, patch: 0, patchFailed: 0 };

  /** Counts a request by transport and query type. */
  request(proto: 'udp' | 'tcp', qtype: number): void {
    if (qtype < 256) {
      const table = proto === 'udp' ? this.udpTypes : this.tcpTypes;
      table[qtype] = (table[qtype] as number) + 1;
      return;
    }
    const key = `${proto}|${qtype}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  /** Counts a response by rcode and records how long it took, in seconds. */
  response(rcode: number, seconds: number): void {
    this.rcode(rcode);
    this.observe(seconds, 1);
  }

  /** Counts a response by rcode only (its time is observed with its batch, see {@link observe}). */
  rcode(rcode: number): void {
    this.responses[rcode & 0xf] = (this.responses[rcode & 0xf] as number) + 1;
  }

  /** Records `count` responses that each took at most `seconds` (e.g. one batch). */
  observe(seconds: number, count: number): void {
    if (count <= 0) return;
    this.durationSum += seconds * count;
    this.durationCount += count;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= (BUCKETS[i] as number)) {
        this.buckets[i] = (this.buckets[i] as number) + count;
        return;
      }
    }
  }

  /** Adds counts kept elsewhere (e.g. the new counts of a UDP worker since the last call). */
  add(counts: DnsMetricsCounts): void {
    for (let i = 0; i < 256; i++)
      this.udpTypes[i] = (this.udpTypes[i] as number) + ((counts.udpTypes[i] as number) || 0);
    for (let i = 0; i < 16; i++)
      this.responses[i] = (this.responses[i] as number) + ((counts.responses[i] as number) || 0);
    for (let i = 0; i < BUCKETS.length; i++)
      this.buckets[i] = (this.buckets[i] as number) + ((counts.buckets[i] as number) || 0);
    this.durationSum += counts.durationSum;
    this.durationCount += counts.durationCount;
    this.dropped += counts.dropped;
  }

  /** Total requests counted. */
  get requestCount(): number {
    let n = 0;
    for (const v of this.requests.values()) n += v;
    for (let i = 0; i < 256; i++) n += (this.udpTypes[i] as number) + (this.tcpTypes[i] as number);
    return n;
  }

  /** The Prometheus text exposition (format 0.0.4). */
  render(gauges: {
    synced: boolean;
    names: number;
    cacheEntries: number;
    /** How UDP is served, when listening. */
    udpPath?: 'native' | 'dgram' | null;
    /** Batches and datagrams of the native UDP path. */
    udpBatches?: { batches: number; datagrams: number } | null;
    /** The TCP listener's counters, when listening. */
    tcp?: DnsTcpStats | null;
    /** Objects (or parts of them) the current zone left out as malformed. */
    skippedObjects?: number;
  }): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    family('podnet_dns_requests_total', 'counter', 'DNS requests by transport and query type.');
    for (const [proto, table] of [
      ['udp', this.udpTypes],
      ['tcp', this.tcpTypes],
    ] as const) {
      table.forEach((v, qtype) => {
        if (v > 0)
          lines.push(`podnet_dns_requests_total{proto="${proto}",type="${typeName(qtype)}"} ${v}`);
      });
    }
    for (const [key, v] of this.requests) {
      const [proto, qtype] = key.split('|') as [string, string];
      lines.push(
        `podnet_dns_requests_total{proto="${proto}",type="${typeName(Number(qtype))}"} ${v}`,
      );
    }
    family('podnet_dns_responses_total', 'counter', 'DNS responses by rcode.');
    this.responses.forEach((v, rcode) => {
      if (v > 0)
        lines.push(`podnet_dns_responses_total{rcode="${RCODE_NAMES[rcode] ?? rcode}"} ${v}`);
    });
    family('podnet_dns_request_duration_seconds', 'histogram', 'Time to answer a request.');
    let cumulative = 0;
    BUCKETS.forEach((le, i) => {
      cumulative += this.buckets[i] as number;
      lines.push(`podnet_dns_request_duration_seconds_bucket{le="${le}"} ${cumulative}`);
    });
    lines.push(`podnet_dns_request_duration_seconds_bucket{le="+Inf"} ${this.durationCount}`);
    lines.push(`podnet_dns_request_duration_seconds_sum ${this.durationSum}`);
    lines.push(`podnet_dns_request_duration_seconds_count ${this.durationCount}`);
    family('podnet_dns_cache_hits_total', 'counter', 'Forwarded names answered from the cache.');
    lines.push(`podnet_dns_cache_hits_total ${this.cacheHits}`);
    family('podnet_dns_cache_misses_total', 'counter', 'Forwarded names not in the cache.');
    lines.push(`podnet_dns_cache_misses_total ${this.cacheMisses}`);
    family('podnet_dns_cache_entries', 'gauge', 'Entries in the forwarding cache.');
    lines.push(`podnet_dns_cache_entries ${gauges.cacheEntries}`);
    family('podnet_dns_forward_requests_total', 'counter', 'Queries sent to upstream resolvers.');
    lines.push(`podnet_dns_forward_requests_total ${this.forwardRequests}`);
    family(
      'podnet_dns_forward_errors_total',
      'counter',
      'Upstream queries that failed or timed out.',
    );
    lines.push(`podnet_dns_forward_errors_total ${this.forwardErrors}`);
    family(
      'podnet_dns_autopath_answers_total',
      'counter',
      'First search-path expansions answered with the first name of the search path that exists.',
    );
    lines.push(`podnet_dns_autopath_answers_total ${this.autopathAnswers}`);
    family('podnet_dns_answer_hook_calls_total', 'counter', 'Answers given to the answer hook.');
    lines.push(`podnet_dns_answer_hook_calls_total ${this.answerHookCalls}`);
    family(
      'podnet_dns_answer_hook_errors_total',
      'counter',
      'Answer hook calls that failed (the answer was released anyway).',
    );
    lines.push(`podnet_dns_answer_hook_errors_total ${this.answerHookErrors}`);
    family('podnet_dns_dropped_total', 'counter', 'Packets dropped without an answer.');
    lines.push(`podnet_dns_dropped_total ${this.dropped}`);
    family('podnet_dns_zone_names', 'gauge', 'Names in the cluster zone.');
    lines.push(`podnet_dns_zone_names ${gauges.names}`);
    family('podnet_dns_synced', 'gauge', '1 once the cluster state has been synced.');
    lines.push(`podnet_dns_synced ${gauges.synced ? 1 : 0}`);
    family(
      'podnet_dns_skipped_objects',
      'gauge',
      'Objects (or their ports, endpoints, addresses) the current zone left out as malformed.',
    );
    lines.push(`podnet_dns_skipped_objects ${gauges.skippedObjects ?? 0}`);
    family(
      'podnet_dns_zone_updates_total',
      'counter',
      "Zone updates: full (every name prepared) or patch (the changed objects' names only).",
    );
    lines.push(`podnet_dns_zone_updates_total{mode="full"} ${this.zoneUpdates.full}`);
    lines.push(`podnet_dns_zone_updates_total{mode="patch"} ${this.zoneUpdates.patch}`);
    family(
      'podnet_dns_zone_patch_failures_total',
      'counter',
      'Zone patches that failed and were replaced by a full update.',
    );
    lines.push(`podnet_dns_zone_patch_failures_total ${this.zoneUpdates.patchFailed}`);
    const tcp = gauges.tcp;
    if (tcp) {
      family('podnet_dns_tcp_connections', 'gauge', 'Open DNS-over-TCP connections.');
      lines.push(`podnet_dns_tcp_connections ${tcp.connections}`);
      family(
        'podnet_dns_tcp_paused_connections',
        'gauge',
        'TCP connections not read because their answers do not drain or too many queries wait.',
      );
      lines.push(`podnet_dns_tcp_paused_connections ${tcp.paused}`);
      family(
        'podnet_dns_tcp_buffered_bytes',
        'gauge',
        'Answer bytes waiting in the server to be sent over TCP.',
      );
      lines.push(`podnet_dns_tcp_buffered_bytes ${tcp.bufferedBytes}`);
      family(
        'podnet_dns_tcp_pauses_total',
        'counter',
        'Times a TCP connection stopped being read for backpressure.',
      );
      lines.push(`podnet_dns_tcp_pauses_total ${tcp.pauses}`);
      family(
        'podnet_dns_tcp_closed_total',
        'counter',
        'TCP connections the server closed or refused, by reason.',
      );
      for (const [reason, n] of Object.entries(tcp.closed))
        lines.push(`podnet_dns_tcp_closed_total{reason="${reason}"} ${n}`);
    }
    if (gauges.udpPath) {
      family('podnet_dns_udp_path', 'gauge', 'How UDP is served (native batches or node:dgram).');
      lines.push(`podnet_dns_udp_path{path="${gauges.udpPath}"} 1`);
    }
    if (gauges.udpBatches) {
      family('podnet_dns_udp_batches_total', 'counter', 'recvmmsg batches of the native path.');
      lines.push(`podnet_dns_udp_batches_total ${gauges.udpBatches.batches}`);
      family('podnet_dns_udp_datagrams_total', 'counter', 'Datagrams read by the native path.');
      lines.push(`podnet_dns_udp_datagrams_total ${gauges.udpBatches.datagrams}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
