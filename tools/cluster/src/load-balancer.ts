/**
 * The load balancer controller of the namespace cluster, as cloud-provider-kind or MetalLB are
 * for kind: LoadBalancer Services get an address from a pool on the external segment, written to
 * `status.loadBalancer.ingress` (what the agents program); ExternalName Services get no
 * ClusterIP; LoadBalancer Services get NodePorts as NodePort ones do. Pure: the addresses live in
 * the Services themselves, so they persist with the cluster's state, stay put across re-apply and
 * are free again once their Service is gone.
 */
import type { Service, ServicePort } from '@podnet/cluster-state';
import { keyOf, type ObjectProblem } from './cluster-objects.js';
import { ClusterError } from './errors.js';
import { intToIp, ipToInt } from './ipv4.js';
import type { ClusterPlan } from './plan.js';
import { pickNodePort } from './service-allocator.js';

/** A range of IPv4 addresses, both ends included. */
export interface AddressPool {
  first: string;
  last: string;
}

/** The external host's IPv4 address (none in an IPv6-only cluster). */
export function externalIpv4(
  plan: Pick<ClusterPlan, 'externalIp' | 'externalIps'>,
): string | undefined {
  return (plan.externalIps ?? [plan.externalIp]).find((ip) => !ip.includes(':'));
}

/**
 * The pool of a cluster: `.200`-`.250` of the external host's /24 (203.0.113.200-203.0.113.250),
 * as a MetalLB `IPAddressPool` on kind's docker network would be; none in an IPv6-only cluster.
 */
export function loadBalancerPool(
  plan: Pick<ClusterPlan, 'externalIp' | 'externalIps'>,
): AddressPool | undefined {
  const ip = externalIpv4(plan);
  if (!ip) return undefined;
  const base = Math.floor(ipToInt(ip) / 256) * 256;
  return { first: intToIp(base + 200), last: intToIp(base + 250) };
}

/** `a.b.c.d-e.f.g.h`. */
export function formatPool(pool: AddressPool): string {
  return `${pool.first}-${pool.last}`;
}

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** True when `ip` is an IPv4 address inside `pool`. */
export function inPool(pool: AddressPool, ip: string): boolean {
  if (!V4.test(ip)) return false;
  const n = ipToInt(ip);
  return n >= ipToInt(pool.first) && n <= ipToInt(pool.last);
}

/**
 * One address of `pool` for Service `key`: `requested` when given (it must be in the pool and
 * not taken by another Service), else `kept` (what the Service had) when it is still in the pool
 * and free, else the lowest free one. `taken` maps an address to the Service holding it.
 * Throws `INVALID_ARGUMENT` naming the address and its holder, or that the pool is exhausted.
 */
export function allocateLoadBalancerIp(
  pool: AddressPool,
  taken: ReadonlyMap<string, string>,
  key: string,
  options: { requested?: string; kept?: string } = {},
): string {
  const holder = (ip: string) => {
    const h = taken.get(ip);
    return h !== undefined && h !== key ? h : undefined;
  };
  const { requested, kept } = options;
  if (requested !== undefined) {
    if (!inPool(pool, requested))
      throw new ClusterError(
        'INVALID_ARGUMENT',
        `${requested} is not in the load balancer pool ${formatPool(pool)}`,
      );
    const h = holder(requested);
    if (h) throw new ClusterError('INVALID_ARGUMENT', `${requested} is held by ${h}`);
    return requested;
  }
  if (kept !== undefined && inPool(pool, kept) && !holder(kept)) return kept;
  for (let n = ipToInt(pool.first); n <= ipToInt(pool.last); n++) {
    const ip = intToIp(n);
    if (!holder(ip)) return ip;
  }
  throw new ClusterError(
    'INVALID_ARGUMENT',
    `the load balancer pool ${formatPool(pool)} is exhausted (${ipToInt(pool.last) - ipToInt(pool.first) + 1} addresses, all held)`,
  );
}

/** The load-balancer addresses of a Service (`status.loadBalancer.ingress[].ip`). */
export function ingressIps(svc: Service): string[] {
  if ((svc.spec?.type ?? 'ClusterIP') !== 'LoadBalancer') return [];
  return (svc.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []));
}

/** Every address a Service is reached at from outside: its load-balancer addresses and externalIPs. */
export function externalAddresses(svc: Service): string[] {
  if (svc.spec?.type === 'ExternalName') return [];
  return [...new Set([...ingressIps(svc), ...(svc.spec?.externalIPs ?? [])])];
}

const IPV6_ONLY =
  'the external segment of an IPv6-only cluster has no IPv4 address: load-balancer addresses and externalIPs need podnet up --ip-family ipv4 or dual';

/** Addresses a Service may not claim: the external host's, its gateway's and the nodes'. */
function reservedAddresses(plan: ClusterPlan): Map<string, string> {
  return new Map([
    [plan.externalIp, 'the external host'],
    [plan.externalGateway, "the external segment's gateway"],
    ...plan.nodes.map((n): [string, string] => [n.ip, `node ${n.name}`]),
  ]);
}

/**
 * Completes Services after the address allocator ({@link allocateServices}) as the API server
 * and a load balancer controller would, for `allocated` (one per incoming Service, in order;
 * `current` are the cluster's Services before the apply):
 * - ExternalName: no ClusterIP, no IP families (it is a DNS alias);
 * - LoadBalancer: a NodePort per port (kept across re-apply, a requested one checked), and one
 *   address of {@link loadBalancerPool} in `status.loadBalancer.ingress` with `ipMode: VIP`
 *   (`spec.loadBalancerIP` honoured when it is in the pool and free; otherwise the address the
 *   Service had; otherwise the lowest free one);
 * - any other type: no load balancer status.
 * `externalIPs` that are the external host's, its gateway's, a node's or another Service's
 * load-balancer address are problems (index into `allocated`).
 */
export function completeServices(
  plan: ClusterPlan,
  current: readonly Service[],
  allocated: readonly Service[],
): { services: Service[]; problems: ObjectProblem[] } {
  const pool = loadBalancerPool(plan);
  const replaced = new Set(allocated.map(keyOf));
  const others = current.filter((s) => !replaced.has(keyOf(s)));
  const reserved = reservedAddresses(plan);
  const lbOwners = new Map<string, string>();
  const extOwners = new Map<string, string>();
  const portOwners = new Map<number, string>();
  const claimPorts = (s: Service) => {
    for (const p of s.spec?.ports ?? []) if (p.nodePort) portOwners.set(p.nodePort, keyOf(s));
    if (s.spec?.healthCheckNodePort) portOwners.set(s.spec.healthCheckNodePort, keyOf(s));
  };
  for (const s of others) {
    for (const ip of ingressIps(s)) lbOwners.set(ip, `Service ${keyOf(s)}`);
    for (const ip of s.spec?.externalIPs ?? []) extOwners.set(ip, `Service ${keyOf(s)}`);
    claimPorts(s);
  }
  // NodePorts the allocator gave the incoming Services (type NodePort) are taken too.
  for (const s of allocated) if (s.spec?.type !== 'LoadBalancer') claimPorts(s);
  for (const s of allocated)
    for (const ip of s.spec?.externalIPs ?? []) extOwners.set(ip, `Service ${keyOf(s)}`);

  const problems: ObjectProblem[] = [];
  const services = allocated.map((svc, index) => {
    const bad = (path: string, message: string) => problems.push({ index, path, message });
    const key = keyOf(svc);
    const spec = svc.spec ?? {};
    const type = spec.type ?? 'ClusterIP';
    (spec.externalIPs ?? []).forEach((ip, i) => {
      const why = reserved.get(ip) ?? lbOwners.get(ip);
      if (why) bad(`spec.externalIPs[${i}]`, `${ip} is the address of ${why}`);
      else if (!pool) bad(`spec.externalIPs[${i}]`, IPV6_ONLY);
    });
    const { status: _status, ...rest } = svc;
    if (type === 'ExternalName') {
      const {
        clusterIP: _ip,
        clusterIPs: _ips,
        ipFamilies: _f,
        ipFamilyPolicy: _p,
        ...plain
      } = spec;
      return { ...rest, spec: plain };
    }
    if (type !== 'LoadBalancer') return { ...rest };
    if (!pool) bad('spec.type', IPV6_ONLY);
    const old = current.find((s) => keyOf(s) === key);
    const ports = (spec.ports ?? []).map((p, i): ServicePort => {
      const nodePort = pickNodePort(
        plan,
        portOwners,
        key,
        p,
        old,
        `spec.ports[${i}].nodePort`,
        bad,
      );
      return nodePort ? { ...p, nodePort } : p;
    });
    let ip: string | undefined;
    if (pool) {
      try {
        const taken = new Map([...reserved, ...extOwners, ...lbOwners]);
        ip = allocateLoadBalancerIp(pool, taken, `Service ${key}`, {
          ...(spec.loadBalancerIP ? { requested: spec.loadBalancerIP } : {}),
          ...(old ? { kept: ingressIps(old)[0] } : {}),
        });
        lbOwners.set(ip, `Service ${key}`);
      } catch (e) {
        bad(
          spec.loadBalancerIP ? 'spec.loadBalancerIP' : 'status.loadBalancer',
          (e as Error).message,
        );
      }
    }
    return {
      ...rest,
      spec: { ...spec, ports },
      ...(ip ? { status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } } } : {}),
    };
  });
  return { services, problems };
}
