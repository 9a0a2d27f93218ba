/** Bucket bounds (seconds) of kube-proxy's sync-duration histograms. */
export const SYNC_BUCKETS = [
  0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
  16.384,
];
/** Bucket bounds (seconds) of kube-proxy's network-programming-latency histogram. */
export const PROGRAMMING_BUCKETS = [
  0.25, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 25, 30, 60, 120, 300,
];

/** A cumulative histogram snapshot: `counts[i]` observations were ≤ `buckets[i]`. */
export interface HistogramSnapshot {
  buckets: number[];
  counts: number[];
  sum: number;
  count: number;
}

/** Every metric a {@link ServiceSyncer} keeps, named after kube-proxy's where the meaning is the same. */
export interface ServiceLbMetrics {
  /** `kubeproxy_sync_proxy_rules_duration_seconds` */
  syncDuration: HistogramSnapshot;
  /** `kubeproxy_sync_full_proxy_rules_duration_seconds` */
  fullSyncDuration: HistogramSnapshot;
  /** `kubeproxy_sync_partial_proxy_rules_duration_seconds` */
  partialSyncDuration: HistogramSnapshot;
  /** `kubeproxy_network_programming_duration_seconds` */
  networkProgrammingDuration: HistogramSnapshot;
  /** `kubeproxy_sync_proxy_rules_last_timestamp_seconds` (0 before the first success) */
  lastSyncTimestampSeconds: number;
  /** `kubeproxy_sync_proxy_rules_nftables_sync_failures_total` */
  syncFailuresTotal: number;
  /** `kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy=internal|external}` */
  noLocalEndpoints: { internal: number; external: number };
  /** `kubeproxy_sync_proxy_rules_service_changes_total` */
  serviceChangesTotal: number;
  /** `kubeproxy_sync_proxy_rules_endpoint_changes_total` (changed EndpointSlices) */
  endpointChangesTotal: number;
  /** `podnet_service_lb_nft_operations` of the last transaction */
  lastSyncOperations: number;
  /** `podnet_service_lb_conntrack_entries_deleted_total` */
  conntrackEntriesDeletedTotal: number;
}

/** A mutable histogram. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.counts[i]!++;
  }

  snapshot(): HistogramSnapshot {
    return {
      buckets: [...this.buckets],
      counts: [...this.counts],
      sum: this.sum,
      count: this.count,
    };
  }
}

function histogram(name: string, help: string, h: HistogramSnapshot): string[] {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  h.buckets.forEach((b, i) => {
    lines.push(`${name}_bucket{le="${b}"} ${h.counts[i]}`);
  });
  lines.push(
    `${name}_bucket{le="+Inf"} ${h.count}`,
    `${name}_sum ${h.sum}`,
    `${name}_count ${h.count}`,
  );
  return lines;
}

function scalar(
  name: string,
  type: 'gauge' | 'counter',
  help: string,
  value: number,
  labels = '',
): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${value}`];
}

/** Renders metrics in the Prometheus text exposition format (0.0.4). Pure. */
export function renderMetrics(m: ServiceLbMetrics): string {
  const p = 'kubeproxy_sync_proxy_rules';
  return `${[
    ...histogram(`${p}_duration_seconds`, 'SyncProxyRules latency in seconds', m.syncDuration),
    ...histogram(
      'kubeproxy_sync_full_proxy_rules_duration_seconds',
      'Full SyncProxyRules latency in seconds',
      m.fullSyncDuration,
    ),
    ...histogram(
      'kubeproxy_sync_partial_proxy_rules_duration_seconds',
      'Partial SyncProxyRules latency in seconds',
      m.partialSyncDuration,
    ),
    ...histogram(
      'kubeproxy_network_programming_duration_seconds',
      'In-cluster network programming latency in seconds',
      m.networkProgrammingDuration,
    ),
    ...scalar(
      `${p}_last_timestamp_seconds`,
      'gauge',
      'The last time proxy rules were successfully synced',
      m.lastSyncTimestampSeconds,
    ),
    ...scalar(
      `${p}_nftables_sync_failures_total`,
      'counter',
      'Failed nftables transactions',
      m.syncFailuresTotal,
    ),
    `# HELP ${p}_no_local_endpoints_total Service ports with a Local traffic policy and no local endpoints`,
    `# TYPE ${p}_no_local_endpoints_total gauge`,
    `${p}_no_local_endpoints_total{traffic_policy="internal"} ${m.noLocalEndpoints.internal}`,
    `${p}_no_local_endpoints_total{traffic_policy="external"} ${m.noLocalEndpoints.external}`,
    ...scalar(
      `${p}_service_changes_total`,
      'counter',
      'Cumulative service changes',
      m.serviceChangesTotal,
    ),
    ...scalar(
      `${p}_endpoint_changes_total`,
      'counter',
      'Cumulative EndpointSlice changes',
      m.endpointChangesTotal,
    ),
    ...scalar(
      'podnet_service_lb_nft_operations',
      'gauge',
      'nftables operations in the last transaction',
      m.lastSyncOperations,
    ),
    ...scalar(
      'podnet_service_lb_conntrack_entries_deleted_total',
      'counter',
      'UDP conntrack entries deleted for removed endpoints',
      m.conntrackEntriesDeletedTotal,
    ),
  ].join('\n')}\n`;
}
