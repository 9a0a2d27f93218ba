/**
 * Zones of the namespace cluster and the EndpointSlice controller's topology fields: each
 * endpoint's `zone` (from its node's `topology.kubernetes.io/zone` label) and, for Services
 * that ask for traffic to stay close (`spec.trafficDistribution`), its `hints`. Pure.
 */
import type { Endpoint, EndpointSlice, Service } from '@podnet/cluster-state';
import type { ClusterPlan, NodePlan } from './plan.js';

/** The well-known Node label that names a node's zone. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/**
 * The zone of a node of the plan: one zone per underlay segment, `zone-a` for segment A and
 * `zone-b` for segment B, so a cluster of 3 or more nodes has two zones (its last node alone in
 * zone-b) and a smaller one has one.
 */
export function nodeZone(n: Pick<NodePlan, 'segment'>): string {
  return `zone-${String.fromCharCode(97 + n.segment)}`;
}

/** Node name → zone, for every node of the plan. */
export function zonesOf(plan: Pick<ClusterPlan, 'nodes'>): (node: string) => string | undefined {
  const zones = new Map(plan.nodes.map((n) => [n.name, nodeZone(n)]));
  return (node) => zones.get(node);
}

/**
 * The `trafficDistribution` values for which the EndpointSlice controller writes hints
 * (`PreferSameNode` adds node hints to the zone ones).
 */
export const CLOSE_TRAFFIC_DISTRIBUTIONS: readonly string[] = [
  'PreferClose',
  'PreferSameZone',
  'PreferSameNode',
];

const isReady = (e: Endpoint) => e.conditions?.ready !== false;

/**
 * A slice with the topology fields the EndpointSlice controller writes: every endpoint gets the
 * zone of its node; with a close `trafficDistribution`, every ready endpoint gets a hint for its
 * own zone (and, for `PreferSameNode`, its own node), an endpoint without a zone none; otherwise
 * no endpoint has hints. Whether a node then uses the hints (every endpoint hinted, its zone
 * among them) is the proxy's decision.
 */
export function withTopology(
  slice: EndpointSlice,
  svc: Service,
  zoneOf: (node: string) => string | undefined,
): EndpointSlice {
  const td = svc.spec?.trafficDistribution;
  const close = td !== undefined && CLOSE_TRAFFIC_DISTRIBUTIONS.includes(td);
  const sameNode = td === 'PreferSameNode';
  return {
    ...slice,
    endpoints: (slice.endpoints ?? []).map((e): Endpoint => {
      const { hints: _old, zone: _zone, ...rest } = e;
      const zone = e.nodeName ? zoneOf(e.nodeName) : undefined;
      const out: Endpoint = { ...rest, ...(zone ? { zone } : {}) };
      if (!close || !isReady(e)) return out;
      const forZones = zone ? [{ name: zone }] : undefined;
      const forNodes = sameNode && e.nodeName ? [{ name: e.nodeName }] : undefined;
      if (!forZones && !forNodes) return out;
      return {
        ...out,
        hints: { ...(forZones ? { forZones } : {}), ...(forNodes ? { forNodes } : {}) },
      };
    }),
  };
}
