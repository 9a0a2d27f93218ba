/**
 * Projections: each package's input, read from the store, and each package's incremental
 * changes, read from a delta batch. Pure.
 */
import type { ClusterStore, Delta, DeltaBatch } from './store.js';
import type {
  ClusterNetworkPolicy,
  EndpointSlice,
  Namespace,
  NetworkPolicy,
  Node,
  ObjectKind,
  Pod,
  Service,
} from './types.js';

/**
 * The deltas of a batch (or of several, concatenated) with one entry per object: the last change
 * of each key wins, so "added then deleted" in one transaction reads as deleted, and "deleted then
 * added" as added. Order of first appearance is kept.
 */
export function lastDeltas(deltas: readonly Delta[]): Delta[] {
  const last = new Map<string, Delta>();
  for (const d of deltas) {
    const id = `${d.kind} ${d.key}`;
    last.delete(id);
    last.set(id, d);
  }
  return [...last.values()];
}

/** The kinds a batch touches. */
export function kindsOf(batch: DeltaBatch): Set<ObjectKind> {
  const out = new Set<ObjectKind>(batch.resync);
  for (const d of batch.deltas) out.add(d.kind);
  return out;
}

/** Services and EndpointSlices: `@podnet/service-lb`'s full input. */
export interface ServiceInput {
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
}

/** `@podnet/service-lb`'s full input from the store. */
export function serviceInput(store: ClusterStore): ServiceInput {
  return { services: store.list('Service'), endpointSlices: store.list('EndpointSlice') };
}

/**
 * Service and EndpointSlice changes of a batch, shaped as `ServiceSyncer.update()` takes them:
 * added and updated objects whole, deleted ones as their last known object.
 */
export interface ServiceDeltaInput {
  services: Service[];
  endpointSlices: EndpointSlice[];
  deletedServices: Service[];
  deletedEndpointSlices: EndpointSlice[];
}

/**
 * The Service and EndpointSlice changes of a batch (empty lists when it has none), one per
 * object (see {@link lastDeltas}).
 */
export function serviceChanges(batch: DeltaBatch): ServiceDeltaInput {
  const out: ServiceDeltaInput = {
    services: [],
    endpointSlices: [],
    deletedServices: [],
    deletedEndpointSlices: [],
  };
  for (const d of lastDeltas(batch.deltas)) {
    if (d.kind === 'Service') {
      if (d.type === 'deleted') out.deletedServices.push(d.old);
      else out.services.push(d.object);
    } else if (d.kind === 'EndpointSlice') {
      if (d.type === 'deleted') out.deletedEndpointSlices.push(d.old);
      else out.endpointSlices.push(d.object);
    }
  }
  return out;
}

/** True when a {@link ServiceDeltaInput} holds no change. */
export function isEmptyServiceChanges(c: ServiceDeltaInput): boolean {
  return (
    c.services.length + c.endpointSlices.length + c.deletedServices.length === 0 &&
    c.deletedEndpointSlices.length === 0
  );
}

/** Namespaces, pods, nodes and both kinds of policy: `@podnet/netpol`'s full input. */
export interface PolicyInput {
  namespaces: readonly Namespace[];
  pods: readonly Pod[];
  nodes: readonly Node[];
  networkPolicies: readonly NetworkPolicy[];
  clusterNetworkPolicies: readonly ClusterNetworkPolicy[];
}

/** `@podnet/netpol`'s full input from the store. */
export function policyInput(store: ClusterStore): PolicyInput {
  return {
    namespaces: store.list('Namespace'),
    pods: store.list('Pod'),
    nodes: store.list('Node'),
    networkPolicies: store.list('NetworkPolicy'),
    clusterNetworkPolicies: store.list('ClusterNetworkPolicy'),
  };
}

/**
 * The policy-relevant changes of a batch: objects added or updated, and keys deleted
 * (`namespace/name` for pods and NetworkPolicies, `name` for the cluster-scoped kinds).
 */
export interface PolicyDeltaInput {
  namespaces: Namespace[];
  deletedNamespaces: string[];
  pods: Pod[];
  deletedPods: string[];
  nodes: Node[];
  deletedNodes: string[];
  networkPolicies: NetworkPolicy[];
  deletedNetworkPolicies: string[];
  clusterNetworkPolicies: ClusterNetworkPolicy[];
  deletedClusterNetworkPolicies: string[];
}

/** The changes of a batch that `@podnet/netpol` reads, one per object (see {@link lastDeltas}). */
export function policyChanges(batch: DeltaBatch): PolicyDeltaInput {
  const out: PolicyDeltaInput = {
    namespaces: [],
    deletedNamespaces: [],
    pods: [],
    deletedPods: [],
    nodes: [],
    deletedNodes: [],
    networkPolicies: [],
    deletedNetworkPolicies: [],
    clusterNetworkPolicies: [],
    deletedClusterNetworkPolicies: [],
  };
  for (const d of lastDeltas(batch.deltas)) {
    switch (d.kind) {
      case 'Namespace':
        if (d.type === 'deleted') out.deletedNamespaces.push(d.key);
        else out.namespaces.push(d.object);
        break;
      case 'Pod':
        if (d.type === 'deleted') out.deletedPods.push(d.key);
        else out.pods.push(d.object);
        break;
      case 'Node':
        if (d.type === 'deleted') out.deletedNodes.push(d.key);
        else out.nodes.push(d.object);
        break;
      case 'NetworkPolicy':
        if (d.type === 'deleted') out.deletedNetworkPolicies.push(d.key);
        else out.networkPolicies.push(d.object);
        break;
      case 'ClusterNetworkPolicy':
        if (d.type === 'deleted') out.deletedClusterNetworkPolicies.push(d.key);
        else out.clusterNetworkPolicies.push(d.object);
        break;
      default:
        break;
    }
  }
  return out;
}

/** True when a {@link PolicyDeltaInput} holds no change. */
export function isEmptyPolicyChanges(c: PolicyDeltaInput): boolean {
  return Object.values(c).every((v) => (v as unknown[]).length === 0);
}

/** Namespaces, Services, EndpointSlices and Pods: `@podnet/dns`'s zone input. */
export interface DnsInput {
  namespaces: readonly Namespace[];
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  pods: readonly Pod[];
}

/** The kinds the cluster zone is made from. */
export const DNS_KINDS: readonly ObjectKind[] = ['Namespace', 'Service', 'EndpointSlice', 'Pod'];

/** `@podnet/dns`'s zone input from the store. */
export function dnsInput(store: ClusterStore): DnsInput {
  return {
    namespaces: store.list('Namespace'),
    services: store.list('Service'),
    endpointSlices: store.list('EndpointSlice'),
    pods: store.list('Pod'),
  };
}

/** The keys of the objects the cluster zone is made from that some deltas change, by kind. */
export interface DnsDeltaInput {
  namespaces: string[];
  services: string[];
  endpointSlices: string[];
  pods: string[];
}

/**
 * The keys of the Namespaces, Services, EndpointSlices and Pods some deltas change (the last
 * delta of each object), as `@podnet/dns`'s incremental `DnsServer.update(store, changed)` takes
 * them; the zone reads the objects themselves from the store.
 */
export function dnsChanges(deltas: readonly Delta[]): DnsDeltaInput {
  const out: DnsDeltaInput = { namespaces: [], services: [], endpointSlices: [], pods: [] };
  for (const d of lastDeltas(deltas)) {
    if (d.kind === 'Namespace') out.namespaces.push(d.key);
    else if (d.kind === 'Service') out.services.push(d.key);
    else if (d.kind === 'EndpointSlice') out.endpointSlices.push(d.key);
    else if (d.kind === 'Pod') out.pods.push(d.key);
  }
  return out;
}

/** True when a batch changes what the cluster zone is made from. */
export function touchesDns(batch: DeltaBatch): boolean {
  const kinds = kindsOf(batch);
  return DNS_KINDS.some((k) => kinds.has(k));
}

/** The pod CIDRs a Node declares (`spec.podCIDRs`, else `spec.podCIDR`). */
export function nodePodCidrs(node: Node | undefined): string[] {
  if (!node?.spec) return [];
  if (node.spec.podCIDRs && node.spec.podCIDRs.length > 0) return [...node.spec.podCIDRs];
  return node.spec.podCIDR ? [node.spec.podCIDR] : [];
}

/** A Node's InternalIP addresses (`status.addresses`). */
export function nodeInternalIps(node: Node): string[] {
  return (node.status?.addresses ?? [])
    .filter((a) => a.type === 'InternalIP')
    .map((a) => a.address);
}

/** An overlay peer, as `@podnet/overlay-vxlan`'s `PeerNode`. */
export interface OverlayPeer {
  nodeName: string;
  nodeIPs: string[];
  podCIDRs: string[];
}

/**
 * `@podnet/overlay-vxlan`'s peers: every other Node with InternalIPs and pod CIDRs, sorted by
 * name.
 */
export function overlayPeers(store: ClusterStore, self: string): OverlayPeer[] {
  const peers: OverlayPeer[] = [];
  for (const n of store.list('Node')) {
    const name = n.metadata?.name;
    if (!name || name === self) continue;
    const podCIDRs = nodePodCidrs(n);
    const nodeIPs = nodeInternalIps(n);
    if (podCIDRs.length === 0 || nodeIPs.length === 0) continue;
    peers.push({ nodeName: name, nodeIPs, podCIDRs });
  }
  return peers;
}
