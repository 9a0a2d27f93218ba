import type { Delta, Node, Pod, Service } from '@podnet/cluster-state';
import ipaddr from 'ipaddr.js';

/** What an address of a flow turned out to be. */
export type FlowEndpoint =
  | { kind: 'pod'; ip: string; namespace: string; name: string; node?: string }
  | { kind: 'service'; ip: string; namespace: string; name: string }
  | { kind: 'node'; ip: string; name: string }
  | { kind: 'external'; ip: string };

/** Answers of {@link canonicalIp} (a storm repeats a few addresses; bounded, cleared when full). */
const canonicalCache = new Map<string, string | undefined>();
const CANONICAL_CACHE_MAX = 4096;

/** `10.0.0.1` as is; an IPv6 address in its compressed form (what the NFLOG decoder prints). */
export function canonicalIp(ip: string): string | undefined {
  if (canonicalCache.has(ip)) return canonicalCache.get(ip);
  if (canonicalCache.size >= CANONICAL_CACHE_MAX) canonicalCache.clear();
  const c = parseCanonical(ip);
  canonicalCache.set(ip, c);
  return c;
}

function parseCanonical(ip: string): string | undefined {
  if (!ipaddr.isValid(ip)) return undefined;
  const a = ipaddr.parse(ip);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress())
    return (a as ipaddr.IPv6).toIPv4Address().toString();
  return a.toString();
}

function podIps(pod: Pod): string[] {
  if (pod.spec?.hostNetwork) return [];
  const ips = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)];
  return [...new Set(ips.flatMap((ip) => (ip ? (canonicalIp(ip) ?? []) : [])))];
}

function serviceIps(svc: Service): string[] {
  const s = svc.spec;
  const ips = [
    s?.clusterIP,
    ...(s?.clusterIPs ?? []),
    ...(s?.externalIPs ?? []),
    ...(svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip),
  ];
  return [...new Set(ips.flatMap((ip) => (ip && ip !== 'None' ? (canonicalIp(ip) ?? []) : [])))];
}

function nodeIps(node: Node): string[] {
  return [
    ...new Set(
      (node.status?.addresses ?? []).flatMap((a) =>
        a.type === 'InternalIP' || a.type === 'ExternalIP' ? (canonicalIp(a.address) ?? []) : [],
      ),
    ),
  ];
}

/** address -> keys holding it, in the order they took it (the last one wins). */
class Owners {
  private readonly byIp = new Map<string, string[]>();
  private readonly ipsOf = new Map<string, string[]>();

  set(key: string, ips: readonly string[]): void {
    this.remove(key);
    if (ips.length === 0) return;
    this.ipsOf.set(key, [...ips]);
    for (const ip of ips) {
      const keys = this.byIp.get(ip);
      if (keys) keys.push(key);
      else this.byIp.set(ip, [key]);
    }
  }

  remove(key: string): void {
    for (const ip of this.ipsOf.get(key) ?? []) {
      const keys = (this.byIp.get(ip) ?? []).filter((k) => k !== key);
      if (keys.length > 0) this.byIp.set(ip, keys);
      else this.byIp.delete(ip);
    }
    this.ipsOf.delete(key);
  }

  owner(ip: string): string | undefined {
    return this.byIp.get(ip)?.at(-1);
  }

  get size(): number {
    return this.ipsOf.size;
  }
}

/**
 * Resolves the addresses of flow records to pods (by pod IP), Services (ClusterIP, external IPs,
 * load balancer addresses) and Nodes (InternalIP/ExternalIP). Pure and incremental: feed it the
 * cluster store's deltas ({@link FlowIndex.apply}); an address nothing holds is `external`.
 * Host-network pods are left out (their address is their node's).
 */
export class FlowIndex {
  private readonly pods = new Owners();
  private readonly services = new Owners();
  private readonly nodes = new Owners();
  private readonly podNode = new Map<string, string>();

  /** Applies a batch of store deltas (other kinds are ignored). */
  apply(deltas: readonly Delta[]): void {
    for (const d of deltas) {
      if (d.kind === 'Pod') {
        if (d.type === 'deleted') {
          this.pods.remove(d.key);
          this.podNode.delete(d.key);
        } else {
          this.pods.set(d.key, podIps(d.object));
          const node = d.object.spec?.nodeName;
          if (node) this.podNode.set(d.key, node);
          else this.podNode.delete(d.key);
        }
      } else if (d.kind === 'Service') {
        if (d.type === 'deleted') this.services.remove(d.key);
        else this.services.set(d.key, serviceIps(d.object));
      } else if (d.kind === 'Node') {
        if (d.type === 'deleted') this.nodes.remove(d.key);
        else this.nodes.set(d.key, nodeIps(d.object));
      }
    }
  }

  /** What `ip` is: a pod, a Service, a node, or external. */
  resolve(ip: string): FlowEndpoint {
    const c = canonicalIp(ip) ?? ip;
    const pod = this.pods.owner(c);
    if (pod !== undefined) {
      const [namespace, name] = splitKey(pod);
      const node = this.podNode.get(pod);
      return { kind: 'pod', ip: c, namespace, name, ...(node ? { node } : {}) };
    }
    const svc = this.services.owner(c);
    if (svc !== undefined) {
      const [namespace, name] = splitKey(svc);
      return { kind: 'service', ip: c, namespace, name };
    }
    const node = this.nodes.owner(c);
    if (node !== undefined) return { kind: 'node', ip: c, name: node };
    return { kind: 'external', ip: c };
  }

  /** How many pods, Services and nodes hold addresses. */
  get sizes(): { pods: number; services: number; nodes: number } {
    return { pods: this.pods.size, services: this.services.size, nodes: this.nodes.size };
  }
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return i < 0 ? ['', key] : [key.slice(0, i), key.slice(i + 1)];
}

/** `ns/name`, `svc:ns/name`, `node:name` or the address: how a table shows an endpoint. */
export function formatEndpoint(e: FlowEndpoint): string {
  switch (e.kind) {
    case 'pod':
      return `${e.namespace}/${e.name}`;
    case 'service':
      return `svc:${e.namespace}/${e.name}`;
    case 'node':
      return `node:${e.name}`;
    default:
      return e.ip;
  }
}
