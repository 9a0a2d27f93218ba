/**
 * How the external host reaches load-balancer addresses and externalIPs, as MetalLB's layer-2
 * mode or a BGP peer would make it: the router (the switch namespace) routes each address to one
 * node, and answers ARP for it on the external segment (`sw-ext`, a proxy neighbour entry). The
 * node is one with a ready local endpoint when the Service's `externalTrafficPolicy` is `Local`
 * (none: the address is withdrawn), else any ready node; the node already chosen is kept while
 * it qualifies. Planning is pure; {@link reconcileExternalRoutes} observes the router and applies
 * the difference in one `ip -batch`.
 */
import type { Service } from '@podnet/cluster-state';
import type { Host } from '@podnet/host';
import { type ClusterObjects, keyOf } from './cluster-objects.js';
import { planEndpointSlice } from './endpoint-slices.js';
import { inCidr } from './ipv4.js';
import { externalAddresses, externalIpv4 } from './load-balancer.js';
import type { ClusterPlan } from './plan.js';

/** The routing protocol number that marks the router's routes as this controller's. */
export const EXTERNAL_ROUTE_PROTO = '77';

/** The router's port on the external segment. */
export const EXTERNAL_PORT = 'sw-ext';

/** One external address and the node that takes its traffic. */
export interface ExternalRoute {
  ip: string;
  /** The Service it belongs to (`namespace/name`). */
  service: string;
  node: string;
  /** The node's underlay address (the route's next hop). */
  via: string;
}

/** What the router has now: this controller's routes (address → next hop) and proxy entries. */
export interface ObservedRouter {
  routes: Map<string, string>;
  proxies: string[];
}

/** FNV-1a of a string: a stable spread of addresses over nodes, as MetalLB hashes node and IP. */
function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The nodes that may take a Service's external traffic, in the plan's order. */
function candidates(
  plan: ClusterPlan,
  svc: Service,
  objects: ClusterObjects,
  ready: ReadonlySet<string>,
): string[] {
  const nodes = plan.nodes.map((n) => n.name).filter((n) => ready.has(n));
  if (svc.spec?.externalTrafficPolicy !== 'Local') return nodes;
  const local = new Set(
    planEndpointSlice(svc, objects.pods)
      .endpoints.filter((e) => e.conditions?.ready !== false)
      .map((e) => e.nodeName),
  );
  return nodes.filter((n) => local.has(n));
}

/**
 * The route of every external address of the cluster's Services (load-balancer addresses and
 * externalIPs): to the node that has it now (`current`, address → next hop) if that node is
 * still a candidate, else to the candidate whose hash with the address is lowest. Addresses
 * without a candidate get no route. Sorted by address.
 */
export function planExternalRoutes(
  plan: ClusterPlan,
  objects: ClusterObjects,
  readyNodes: readonly string[],
  current: ReadonlyMap<string, string> = new Map(),
): ExternalRoute[] {
  const ready = new Set(readyNodes);
  // the router's IPv4 next hop to each node (an IPv6-only cluster has no IPv4 external address)
  const ipOf = new Map(plan.nodes.filter((n) => !n.ip.includes(':')).map((n) => [n.name, n.ip]));
  const out = new Map<string, ExternalRoute>();
  for (const svc of objects.services) {
    const nodes = candidates(plan, svc, objects, ready).filter((n) => ipOf.has(n));
    if (nodes.length === 0) continue;
    for (const ip of externalAddresses(svc)) {
      if (out.has(ip)) continue;
      const had = plan.nodes.find((n) => n.ip === current.get(ip))?.name;
      const node =
        had && nodes.includes(had)
          ? had
          : [...nodes].sort((a, b) => fnv(`${a}#${ip}`) - fnv(`${b}#${ip}`))[0]!;
      out.set(ip, { ip, service: keyOf(svc), node, via: ipOf.get(node)! });
    }
  }
  return [...out.values()].sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
}

/** The external segment's IPv4 CIDR (the external host's /24; none in an IPv6-only cluster). */
export function externalCidr(
  plan: Pick<ClusterPlan, 'externalIp' | 'externalIps'>,
): string | undefined {
  const ip = externalIpv4(plan);
  return ip ? `${ip.split('.').slice(0, 3).join('.')}.0/24` : undefined;
}

/**
 * The `ip -batch` lines that take the router from `observed` to `desired`: stale routes and
 * proxy entries deleted, new or moved routes replaced, a proxy entry on `sw-ext` for each
 * address inside the external segment (outside it the external host sends to its gateway
 * anyway), and proxy replies without the kernel's random delay. Empty when nothing changes.
 */
export function externalRouteLines(
  plan: ClusterPlan,
  desired: readonly ExternalRoute[],
  observed: ObservedRouter,
): string[][] {
  const cidr = externalCidr(plan);
  const want = new Map(desired.map((r) => [r.ip, r.via]));
  const wantProxy = new Set(desired.filter((r) => cidr && inCidr(r.ip, cidr)).map((r) => r.ip));
  const lines: string[][] = [];
  for (const ip of observed.proxies)
    if (!wantProxy.has(ip)) lines.push(['neigh', 'del', 'proxy', ip, 'dev', EXTERNAL_PORT]);
  for (const ip of observed.routes.keys())
    if (!want.has(ip)) lines.push(['route', 'del', `${ip}/32`, 'proto', EXTERNAL_ROUTE_PROTO]);
  for (const r of desired) {
    if (observed.routes.get(r.ip) !== r.via)
      lines.push(['route', 'replace', `${r.ip}/32`, 'via', r.via, 'proto', EXTERNAL_ROUTE_PROTO]);
  }
  const newProxies = [...wantProxy].filter((ip) => !observed.proxies.includes(ip));
  for (const ip of newProxies) lines.push(['neigh', 'replace', 'proxy', ip, 'dev', EXTERNAL_PORT]);
  if (newProxies.length > 0)
    lines.push(['ntable', 'change', 'name', 'arp_cache', 'dev', EXTERNAL_PORT, 'proxy_delay', '0']);
  return lines;
}

/** Reads `ip -json route show proto 77` and `ip -json neigh show proxy dev sw-ext`, parsed. */
export function parseObservedRouter(routes: unknown, proxies: unknown): ObservedRouter {
  const list = (v: unknown) => (Array.isArray(v) ? (v as Array<Record<string, unknown>>) : []);
  const out = new Map<string, string>();
  for (const r of list(routes)) {
    const dst = String(r.dst ?? '').replace(/\/32$/, '');
    if (dst && typeof r.gateway === 'string') out.set(dst, r.gateway);
  }
  const ips = list(proxies)
    .map((n) => String(n.dst ?? ''))
    .filter(Boolean);
  return { routes: out, proxies: ips };
}

/**
 * Observes the router (two `ip -json` reads), plans ({@link planExternalRoutes}, keeping each
 * address on its node while it qualifies) and applies the difference in one `ip -batch`.
 * Idempotent; a batch that fails (another podnet process changed the router meanwhile, so a
 * `del` found nothing) is planned again from a fresh observation, up to three times. Returns the
 * routes it wants and the lines it ran last.
 */
export async function reconcileExternalRoutes(
  router: Host,
  plan: ClusterPlan,
  objects: ClusterObjects,
  readyNodes: readonly string[],
): Promise<{ routes: ExternalRoute[]; lines: string[][] }> {
  for (let attempt = 1; ; attempt++) {
    const observed = parseObservedRouter(
      await router.ipJson(['route', 'show', 'proto', EXTERNAL_ROUTE_PROTO]),
      await router.ipJson(['neigh', 'show', 'proxy', 'dev', EXTERNAL_PORT]),
    );
    const routes = planExternalRoutes(plan, objects, readyNodes, observed.routes);
    const lines = externalRouteLines(plan, routes, observed);
    try {
      await router.ipBatch(lines);
      return { routes, lines };
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
}
