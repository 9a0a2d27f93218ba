import { flat } from './flat.js';
import { chainName, objectName, shortHash } from './hash.js';
import {
  type CompileContext,
  compileContext,
  familyOf,
  type L4Proto,
  type NormEndpoint,
  type NormPort,
  type NormService,
  type NormSlice,
  normalizeService,
  normalizeSlice,
} from './normalize.js';
import type { NftChain, NftElement, NftSet, NftTable, Ruleset } from './ruleset.js';
import type { CompileOptions, IpFamily, NodeFacts, ServiceState } from './types.js';

/** Chosen endpoint of one service port: address and target port. */
export interface ChosenEndpoint {
  ip: string;
  port: number;
}

/** What conntrack cleanup needs to know about one UDP service port. */
export interface UdpServicePort {
  family: IpFamily;
  /** Addresses clients use: ClusterIPs, externalIPs, load-balancer IPs. */
  vips: string[];
  port: number;
  nodePort?: number;
  /** Endpoints traffic may be sent to, as `ip:port` / `[ip]:port`. */
  endpoints: string[];
}

/** The rules one Service contributes, per family, plus facts the syncer needs. Plain JSON. */
export interface ServiceFragment {
  key: string;
  tables: NftTable[];
  udp: UdpServicePort[];
  /** Service ports with a Local policy and endpoints elsewhere but none on this node. */
  noLocalEndpoints: { internal: number; external: number };
}

/** Endpoints of one service port after conditions, topology and traffic policy. */
export interface EndpointChoice {
  /** Endpoints for Cluster policy (ready, topology-filtered; else serving+terminating). */
  cluster: ChosenEndpoint[];
  /** Endpoints on this node (ready; else serving+terminating). */
  local: ChosenEndpoint[];
}

const ADDR: Record<IpFamily, string> = { ip: 'ipv4_addr', ip6: 'ipv6_addr' };
const LOOPBACK: Record<IpFamily, string> = { ip: '127.0.0.0/8', ip6: '::1' };

function usable(
  eps: Array<NormEndpoint & { port: number }>,
): Array<NormEndpoint & { port: number }> {
  const ready = eps.filter((e) => e.ready);
  return ready.length > 0 ? ready : eps.filter((e) => e.serving && e.terminating);
}

function byTopology(
  eps: Array<NormEndpoint & { port: number }>,
  svc: NormService,
  ctx: CompileContext,
): Array<NormEndpoint & { port: number }> {
  if (svc.topology === 'none' || eps.length === 0) return eps;
  const { name, zone } = ctx.node;
  if (svc.topology === 'node' && eps.every((e) => e.nodeHints)) {
    const mine = eps.filter((e) => e.nodeHints?.includes(name));
    if (mine.length > 0) return mine;
  }
  if (zone && eps.every((e) => e.zoneHints)) {
    const mine = eps.filter((e) => e.zoneHints?.includes(zone));
    if (mine.length > 0) return mine;
  }
  return eps;
}

/**
 * Picks the endpoints of one service port from its EndpointSlices, as kube-proxy does: ready
 * endpoints (topology hints applied), else serving+terminating ones; Local separately. Pure.
 */
export function chooseEndpoints(
  svc: NormService,
  port: NormPort,
  family: IpFamily,
  slices: readonly NormSlice[],
  ctx: CompileContext,
): EndpointChoice {
  const seen = new Map<string, NormEndpoint & { port: number }>();
  for (const s of slices) {
    if (s.family !== family) continue;
    const sp = s.ports.find((p) => p.name === port.name && p.proto === port.proto);
    if (!sp) continue;
    for (const e of s.endpoints) {
      const id = `${e.ip}|${sp.port}`;
      const old = seen.get(id);
      if (!old || (!old.ready && e.ready)) seen.set(id, { ...e, port: sp.port });
    }
  }
  const all = [...seen.values()].sort((a, b) =>
    a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port,
  );
  const ready = all.filter((e) => e.ready);
  const cluster = ready.length > 0 ? byTopology(ready, svc, ctx) : usable(all);
  const local = usable(all.filter((e) => e.nodeName === ctx.node.name));
  const strip = (e: NormEndpoint & { port: number }) => ({ ip: e.ip, port: e.port });
  return { cluster: cluster.map(strip), local: local.map(strip) };
}

function hostPort(ep: ChosenEndpoint): string {
  return familyOf(ep.ip) === 'ip6' ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

/**
 * Above this many endpoints a service chain balances with one `numgen ... vmap`; at or below it,
 * with a cascade of `numgen random mod k == 0` rules (uniform overall). The kernel names every
 * anonymous map by scanning the table's sets, so one anonymous vmap per Service makes a full sync
 * quadratic in the number of Services (10,000 of them took ~19 s here); the cascade has no set.
 */
export const CASCADE_MAX_ENDPOINTS = 16;

function lbRules(chains: string[]): string[] {
  if (chains.length === 1) return [`goto ${chains[0]}`];
  if (chains.length > CASCADE_MAX_ENDPOINTS) {
    return [
      `numgen random mod ${chains.length} vmap { ${chains.map((c, i) => `${i} : goto ${c}`).join(', ')} }`,
    ];
  }
  const n = chains.length;
  return chains.map((c, i) =>
    i === n - 1 ? `goto ${c}` : `numgen random mod ${n - i} == 0 goto ${c}`,
  );
}

/**
 * Services whose ClusterIP balances over at most this many endpoints need no chain of their own:
 * their `address . protocol . port` is an element of the plain set `lb-N` (N endpoints), and the
 * shared chain `lb` has one rule per N that DNATs members through the `lb-endpoints` map (slot
 * `numgen random mod N`). An endpoint change then only moves set and map elements: no rule, no
 * chain and no verdict element (each of those makes the kernel re-validate every jump in the table,
 * which grows with the number of Services). The rules are created with the table, since nft 1.0.6
 * cannot add a rule that uses the `typeof` map `lb-endpoints` once that map is in the kernel.
 */
export const LB_MAX_ENDPOINTS = 32;

/** The shared balancer chain `lb` (see {@link LB_MAX_ENDPOINTS}). Pure. */
export function lbChain(family: IpFamily, podCidrs: boolean): NftChain {
  const P = family;
  const key = `${P} daddr . meta l4proto . th dport`;
  const rules = podCidrs ? [`${P} saddr != @pod-cidrs jump mark-for-masquerade`] : [];
  for (let n = 1; n <= LB_MAX_ENDPOINTS; n++) {
    rules.push(`${key} @lb-${n} dnat ${P} to ${key} . numgen random mod ${n} map @lb-endpoints`);
  }
  return { name: 'lb', rules };
}

/**
 * Where the shared `lb` chain of one compiled table sends a new connection to `key`
 * (`daddr . l4proto . dport`, as the sets spell it, e.g. `10.96.0.10 . tcp . 80`): the `lb-N` set
 * holding the key and the endpoints of its N slots in slot order; `undefined` when `lb` does not
 * balance that key (then `service-ips` decides). For tools that explain a ruleset. Pure.
 */
export function lbTarget(
  table: NftTable,
  key: string,
): { set: string; endpoints: ChosenEndpoint[] } | undefined {
  const member = table.elements.find((e) => e.key === key && /^lb-\d+$/.test(e.set));
  if (!member) return undefined;
  const slots = new Map(
    table.elements.filter((e) => e.set === 'lb-endpoints').map((e) => [e.key, e.value ?? '']),
  );
  const endpoints: ChosenEndpoint[] = [];
  for (let i = 0; i < Number(member.set.slice(3)); i++) {
    const value = slots.get(`${key} . ${i}`);
    const at = value?.lastIndexOf(' . ') ?? -1;
    if (value === undefined || at < 0) continue;
    endpoints.push({ ip: value.slice(0, at), port: Number(value.slice(at + 3)) });
  }
  return { set: member.set, endpoints };
}

/** Compiles one Service (with its slices) into the chains, sets and elements it owns. Pure. */
export function compileServiceFragment(
  svc: NormService,
  slices: readonly NormSlice[],
  ctx: CompileContext,
): ServiceFragment {
  const fragment: ServiceFragment = {
    key: svc.key,
    tables: [],
    udp: [],
    noLocalEndpoints: { internal: 0, external: 0 },
  };
  if (svc.skip) return fragment;
  for (const family of ctx.families) {
    const P = family;
    const table: NftTable = { family, name: ctx.table, sets: [], chains: [], elements: [] };
    const cips = svc.clusterIPs.filter((ip) => familyOf(ip) === family);
    const extIPs = [...svc.externalIPs, ...svc.loadBalancerIPs].filter(
      (ip) => familyOf(ip) === family,
    );
    const lbIPs = svc.loadBalancerIPs.filter((ip) => familyOf(ip) === family);
    const servesFamily =
      cips.length > 0 || extIPs.length > 0 || (svc.clusterIPs.length === 0 && family === 'ip');
    if (!servesFamily) continue;
    const podCidrs = ctx.node.clusterCIDRs[family].length > 0;
    const pairs = new Set<string>();
    for (const cip of cips) table.elements.push({ set: 'cluster-ips', key: cip });
    for (const port of svc.ports) {
      const id = `${svc.key}/${port.name}/${port.proto}/${port.port}/${family}`;
      const readable = `${svc.namespace}.${svc.name}.${port.name || port.port}.${port.proto}`;
      const { cluster, local } = chooseEndpoints(svc, port, family, slices, ctx);
      const nodePort = svc.nodePorts ? port.nodePort : undefined;
      const hasExternal = extIPs.length > 0 || nodePort !== undefined;
      const internal = svc.internalLocal ? local : cluster;
      const external = svc.externalLocal ? local : cluster;
      const h = shortHash(id);
      const clusterChain = chainName('svc', h, readable);
      const localChain = chainName('local', h, readable);
      const extChain = chainName('ext', h, readable);
      const fwChain = chainName('fw', h, readable);
      const viaLb =
        svc.affinityTimeout === undefined &&
        !svc.internalLocal &&
        cluster.length > 0 &&
        cluster.length <= LB_MAX_ENDPOINTS;
      const needCluster =
        cluster.length > 0 &&
        ((cips.length > 0 && !svc.internalLocal && !viaLb) || (hasExternal && external.length > 0));
      const needLocal =
        local.length > 0 &&
        ((cips.length > 0 && svc.internalLocal) || (hasExternal && svc.externalLocal));
      if (svc.internalLocal && cips.length > 0 && local.length === 0 && cluster.length > 0) {
        fragment.noLocalEndpoints.internal++;
      }
      if (svc.externalLocal && hasExternal && local.length === 0 && cluster.length > 0) {
        fragment.noLocalEndpoints.external++;
      }

      const epChains = new Map<string, string>();
      const affSets = new Map<string, string>();
      const epChain = (ep: ChosenEndpoint) => {
        const hp = hostPort(ep);
        let name = epChains.get(hp);
        if (!name) {
          name = objectName('ep', `${id}|${hp}`, `${ep.ip}.${ep.port}`);
          epChains.set(hp, name);
          const rules = [`${P} saddr ${ep.ip} jump mark-for-masquerade`];
          if (svc.affinityTimeout !== undefined) {
            const set = objectName(
              'aff',
              `${id}|${hp}|${svc.affinityTimeout}`,
              `${ep.ip}.${ep.port}`,
            );
            affSets.set(hp, set);
            table.sets.push({
              name: set,
              type: ADDR[family],
              flags: ['dynamic', 'timeout'],
              timeout: svc.affinityTimeout,
            });
            rules.push(`update @${set} { ${P} saddr }`);
          }
          rules.push(`meta l4proto ${port.proto} dnat to ${hp}`);
          table.chains.push({ name, rules });
        }
        return name;
      };
      const balance = (eps: ChosenEndpoint[], pre: string[]): string[] => {
        const chains = eps.map(epChain);
        const rules = [...pre];
        if (svc.affinityTimeout !== undefined) {
          eps.forEach((ep, i) => {
            rules.push(`${P} saddr @${affSets.get(hostPort(ep))} goto ${chains[i]}`);
          });
        }
        rules.push(...lbRules(chains));
        return rules;
      };
      if (needCluster) {
        table.chains.push({
          name: clusterChain,
          rules: balance(
            cluster,
            podCidrs ? [`${P} saddr != @pod-cidrs jump mark-for-masquerade`] : [],
          ),
        });
      }
      if (needLocal) table.chains.push({ name: localChain, rules: balance(local, []) });
      if (hasExternal && external.length > 0) {
        const rules = svc.externalLocal
          ? [
              ...(podCidrs && cluster.length > 0
                ? [`${P} saddr @pod-cidrs goto ${clusterChain}`]
                : []),
              ...(cluster.length > 0
                ? [
                    'fib saddr type local jump mark-for-masquerade',
                    `fib saddr type local goto ${clusterChain}`,
                  ]
                : []),
              `goto ${localChain}`,
            ]
          : ['jump mark-for-masquerade', `goto ${clusterChain}`];
        table.chains.push({ name: extChain, rules });
      }
      const noEndpointVerdict = cluster.length === 0 ? 'goto reject-chain' : 'drop';
      if (viaLb && cips.length > 0) for (const ep of cluster) pairs.add(flat(ep.ip, ' . ', ep.ip));
      for (const cip of cips) {
        const key = flat(cip, ' . ', port.proto, ' . ', port.port);
        if (viaLb) {
          table.elements.push({ set: `lb-${cluster.length}`, key });
          cluster.forEach((ep, i) => {
            table.elements.push({
              set: 'lb-endpoints',
              key: flat(key, ' . ', i),
              value: flat(ep.ip, ' . ', ep.port),
            });
          });
        } else if (internal.length > 0) {
          const target = svc.internalLocal ? localChain : clusterChain;
          table.elements.push({ set: 'service-ips', key, value: `goto ${target}` });
        } else {
          table.elements.push({ set: 'no-endpoint-services', key, value: noEndpointVerdict });
        }
      }
      for (const ip of extIPs) {
        const key = `${ip} . ${port.proto} . ${port.port}`;
        if (external.length > 0)
          table.elements.push({ set: 'service-ips', key, value: `goto ${extChain}` });
        else table.elements.push({ set: 'no-endpoint-services', key, value: noEndpointVerdict });
      }
      if (lbIPs.length > 0 && svc.sourceRanges.length > 0) {
        const ranges = svc.sourceRanges.filter((c) => familyOf(c) === family);
        table.chains.push({
          name: fwChain,
          rules: [ranges.length > 0 ? `${P} saddr != { ${ranges.join(', ')} } drop` : 'drop'],
        });
        for (const ip of lbIPs) {
          table.elements.push({
            set: 'firewall-ips',
            key: `${ip} . ${port.proto} . ${port.port}`,
            value: `goto ${fwChain}`,
          });
        }
      }
      if (nodePort !== undefined) {
        const key = `${port.proto} . ${nodePort}`;
        if (external.length > 0)
          table.elements.push({ set: 'service-nodeports', key, value: `goto ${extChain}` });
        else table.elements.push({ set: 'no-endpoint-nodeports', key, value: noEndpointVerdict });
      }
      if (port.proto === 'udp') {
        const eps = new Set([...cluster, ...local].map(hostPort));
        fragment.udp.push({
          family,
          vips: [...cips, ...extIPs],
          port: port.port,
          ...(nodePort !== undefined ? { nodePort } : {}),
          endpoints: [...eps].sort(),
        });
      }
    }
    for (const pair of [...pairs].sort())
      table.elements.push({ set: 'hairpin-endpoints', key: pair });
    if (table.chains.length > 0 || table.elements.length > 0 || table.sets.length > 0)
      fragment.tables.push(table);
  }
  return fragment;
}

/** The fixed part of podnet's table for one family: base chains, dispatch maps, node sets. Pure. */
export function compileSkeleton(family: IpFamily, ctx: CompileContext): NftTable {
  const P = family;
  const A = ADDR[family];
  const mark = `0x${ctx.mark.toString(16)}`;
  const node = ctx.node;
  const sets: NftSet[] = [
    { name: 'cluster-ips', type: A },
    { name: 'pod-cidrs', type: A, flags: ['interval'] },
    { name: 'nodeport-ips', type: A },
    { name: 'service-ips', type: `${A} . inet_proto . inet_service`, map: 'verdict' },
    { name: 'service-nodeports', type: 'inet_proto . inet_service', map: 'verdict' },
    { name: 'no-endpoint-services', type: `${A} . inet_proto . inet_service`, map: 'verdict' },
    { name: 'no-endpoint-nodeports', type: 'inet_proto . inet_service', map: 'verdict' },
    { name: 'firewall-ips', type: `${A} . inet_proto . inet_service`, map: 'verdict' },
    {
      name: 'lb-endpoints',
      type: `${A} . inet_proto . inet_service . integer`,
      typeof: `${P} daddr . meta l4proto . th dport . numgen random mod 2 : ${P} daddr . th dport`,
      map: `${A} . inet_service`,
    },
    { name: 'hairpin-endpoints', type: `${A} . ${A}` },
  ];
  for (let n = 1; n <= LB_MAX_ENDPOINTS; n++) {
    sets.push({ name: `lb-${n}`, type: `${A} . inet_proto . inet_service` });
  }
  const nodePortMatch =
    node.addresses[family].length > 0
      ? `${P} daddr @nodeport-ips`
      : `fib daddr type local ${P} daddr != ${LOOPBACK[family]}`;
  const firewall = `${P} daddr . meta l4proto . th dport vmap @firewall-ips`;
  const chains: NftChain[] = [
    {
      name: 'filter-prerouting',
      hook: { type: 'filter', hook: 'prerouting', priority: -110 },
      rules: [`ct state new ${firewall}`],
    },
    {
      name: 'filter-input',
      hook: { type: 'filter', hook: 'input', priority: -110 },
      rules: ['ct state new jump service-endpoints-check'],
    },
    {
      name: 'filter-forward',
      hook: { type: 'filter', hook: 'forward', priority: -110 },
      rules: ['ct state new jump service-endpoints-check', 'ct state new jump cluster-ips-check'],
    },
    {
      name: 'filter-output',
      hook: { type: 'filter', hook: 'output', priority: -110 },
      rules: [`ct state new ${firewall}`, 'ct state new jump service-endpoints-check'],
    },
    {
      // After nat-output's DNAT, so only ClusterIP traffic no Service port took is refused.
      name: 'filter-output-post-dnat',
      hook: { type: 'filter', hook: 'output', priority: -90 },
      rules: ['ct state new jump cluster-ips-check'],
    },
    {
      name: 'nat-prerouting',
      hook: { type: 'nat', hook: 'prerouting', priority: -100 },
      rules: ['jump services'],
    },
    {
      name: 'nat-output',
      hook: { type: 'nat', hook: 'output', priority: -100 },
      rules: ['jump services'],
    },
    {
      name: 'nat-postrouting',
      hook: { type: 'nat', hook: 'postrouting', priority: 100 },
      rules: ['jump masquerading'],
    },
    {
      name: 'services',
      rules: [
        `${P} daddr . meta l4proto . th dport vmap @service-ips`,
        `${P} daddr @cluster-ips goto lb`,
        `${nodePortMatch} meta l4proto . th dport vmap @service-nodeports`,
      ],
    },
    {
      name: 'service-endpoints-check',
      rules: [
        `${P} daddr . meta l4proto . th dport vmap @no-endpoint-services`,
        `${nodePortMatch} meta l4proto . th dport vmap @no-endpoint-nodeports`,
      ],
    },
    {
      name: 'cluster-ips-check',
      rules: [
        `${P} daddr @cluster-ips reject`,
        ...node.serviceCIDRs[family].map((c) => `${P} daddr ${c} drop`),
      ],
    },
    { name: 'mark-for-masquerade', rules: [`meta mark set meta mark | ${mark}`] },
    {
      name: 'masquerading',
      rules: [
        `ct status dnat ${P} saddr . ${P} daddr @hairpin-endpoints jump mark-for-masquerade`,
        `meta mark & ${mark} == 0 return`,
        `meta mark set meta mark ^ ${mark}`,
        'masquerade fully-random',
      ],
    },
    { name: 'reject-chain', rules: ['reject'] },
  ];
  chains.push(lbChain(family, node.clusterCIDRs[family].length > 0));
  const elements: NftElement[] = [
    ...node.clusterCIDRs[family].map((c) => ({ set: 'pod-cidrs', key: c })),
    ...node.addresses[family].map((a) => ({ set: 'nodeport-ips', key: a })),
  ];
  return { family, name: ctx.table, sets, chains, elements };
}

/** Groups normalised slices by the `namespace/name` of their Service. */
export function groupSlices(slices: readonly NormSlice[]): Map<string, NormSlice[]> {
  const out = new Map<string, NormSlice[]>();
  for (const s of slices) {
    const list = out.get(s.serviceKey);
    if (list) list.push(s);
    else out.set(s.serviceKey, [s]);
  }
  return out;
}

/**
 * Merges a skeleton and Service fragments into whole tables. An element key claimed by two
 * Services (e.g. the same externalIP and port) goes to the first in `namespace/name` order.
 */
export function assembleRuleset(
  ctx: CompileContext,
  fragments: readonly ServiceFragment[],
  owners?: Map<string, string>,
): Ruleset {
  const tables = ctx.families.map((f) => compileSkeleton(f, ctx));
  const byFamily = new Map(tables.map((t) => [t.family, t]));
  const claimed = new Set<string>();
  for (const t of tables)
    for (const e of t.elements) claimed.add(flat(t.family, '|', e.set, '|', e.key));
  const sorted = [...fragments].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const frag of sorted) {
    for (const part of frag.tables) {
      const t = byFamily.get(part.family);
      if (!t) continue;
      t.sets.push(...part.sets);
      t.chains.push(...part.chains);
      for (const e of part.elements) {
        const id = flat(part.family, '|', e.set, '|', e.key);
        if (claimed.has(id)) continue;
        claimed.add(id);
        owners?.set(id, frag.key);
        t.elements.push(e);
      }
    }
  }
  return { tables };
}

/**
 * The compiler: Services + EndpointSlices + node facts → podnet's nftables tables (one per
 * family). Pure and deterministic; throws {@link ServiceLbError} naming the first invalid field
 * (a strict check: `ServiceSyncer` instead skips an invalid Service and drops an invalid
 * EndpointSlice, port or endpoint alone, reporting each).
 */
export function compileServices(
  state: ServiceState,
  node: NodeFacts,
  options: CompileOptions = {},
): Ruleset {
  const ctx = compileContext(node, options);
  const slices = groupSlices(
    state.endpointSlices.flatMap((s, i) => {
      const n = normalizeSlice(s, i);
      return n ? [n] : [];
    }),
  );
  const fragments = state.services.map((s, i) => {
    const svc = normalizeService(s, i);
    return compileServiceFragment(svc, slices.get(svc.key) ?? [], ctx);
  });
  return assembleRuleset(ctx, fragments);
}

export type { L4Proto };
