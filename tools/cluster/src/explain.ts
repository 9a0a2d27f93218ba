import {
  type ClusterSnapshot,
  type Node,
  type Pod,
  nodeInternalIps,
  nodePodCidrs,
  type Service,
} from '@podnet/cluster-state';
import { compileZone, resolve as resolveDns } from '@podnet/dns';
import { evaluate, formatPolicyRef } from '@podnet/netpol';
import { type OverlayPlan, type PeerNode, planOverlay } from '@podnet/overlay-vxlan';
import {
  compileServices,
  lbTarget,
  type NftChain,
  type NftTable,
  type Ruleset,
} from '@podnet/service-lb';
import { type ClusterObjects, findPod, keyOf, nameOf, nodeNameOf } from './cluster-objects.js';
import {
  externalIpsOf,
  familyOfIp,
  type IpFamily,
  nodeIpsOf,
  ofFamily,
  planFamilies,
  podCidrsOf,
  podIpsOf,
  serviceCidrsOf,
  clusterCidrsOf,
  unbracket,
} from './ip-family.js';
import { inCidr } from './ipv4.js';
import type { ClusterPlan, NodePlan } from './plan.js';
import { planReferenceRoutes } from './plan.js';
import { renderCluster } from './render.js';
import { nodeZone } from './topology.js';

/** One step a flow meets on its way. */
export interface ExplainStep {
  kind: 'source' | 'dns' | 'service' | 'route' | 'policy';
  detail: string;
}

/** What {@link explainFlow} found: the steps, and whether the flow gets through. */
export interface Explanation {
  steps: ExplainStep[];
  /**
   * `allow`/`deny` from the policy evaluator; `reject` when the Service rules reject or drop the
   * flow (no endpoints, unknown port of a ClusterIP, unallocated service address); `unknown` when
   * the target did not resolve.
   */
  verdict: 'allow' | 'deny' | 'reject' | 'unknown';
  /** The Service rules' decision, when they touched the flow (structured, for comparisons). */
  dnat?: DnatDecision;
  /** The policy verdict per destination (each endpoint a DNAT may choose), in step order. */
  policies?: PolicyVerdict[];
}

/** The policy evaluator's verdict for one destination of a flow. */
export interface PolicyVerdict {
  ip: string;
  port: number;
  /** The source address the policy was evaluated for (a pod, or the address after masquerade). */
  src: string;
  verdict: 'allow' | 'deny';
  summary: string;
  /**
   * Audited policies (`podnet.io/enforcement: audit`) that select either end: listed apart, as
   * they never change `verdict`; `verdict` here is what they would make it, and `wouldDrop` says
   * the flow is logged as `would-drop`.
   */
  audit?: { policies: string[]; verdict: 'allow' | 'deny'; wouldDrop: boolean };
}

/** A flow to explain. `to` is a pod (`ns/name` or unique name), an IP or a DNS name. */
export interface ExplainFlow {
  from: string;
  to: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  /**
   * The IP family of the flow: 6 takes the pods' IPv6 addresses and resolves names to AAAA.
   * Default: the family of `to` when it is an address, else the cluster's primary family.
   */
  family?: 4 | 6;
  /**
   * The source's address when FROM is not a pod (a node or `external`): policy is evaluated for
   * it. Default: the node's address, or the external host's, of the flow's family.
   */
  srcIp?: string;
}

/** What the explainer reads: the plan, the cluster's objects and the source pod's resolver. */
export interface ExplainContext {
  plan: ClusterPlan;
  /** The cluster's objects; the explainer reads them as the agents do ({@link renderCluster}). */
  objects: ClusterObjects;
  /** The source pod's resolv.conf search list and ndots (DNS names are expanded like libc does). */
  search: string[];
  ndots: number;
  /** The kernel's answer to `ip route get DST` on the source node, per destination IP (optional). */
  routeOf?: (dstIp: string) => string | undefined;
}

/** What a node's compiled Service ruleset does with one new connection. */
export interface DnatDecision {
  /** The node whose rules decide (the source pod's node, or the node a NodePort is addressed to). */
  node: string;
  /** The map element that matched, e.g. `service-ips[10.96.0.11 . tcp . 80]`. */
  match?: string;
  /** The chain the element sends the packet to (`svc-…`, `ext-…`, `local-…`). */
  chain?: string;
  action: 'dnat' | 'reject' | 'drop' | 'none';
  /** Endpoints the rules balance over (`dnat to` of the `ep-…` chains reached). */
  endpoints: { ip: string; port: number }[];
  /** The path marks the connection for masquerade (e.g. NodePort, source outside the pod CIDRs). */
  masquerade: boolean;
  /** ClientIP session affinity sets are consulted first. */
  affinity: boolean;
  /** Why the packet is rejected or dropped (when it is). */
  reason?: string;
}

/** A packet as the Service rules of one node see it. */
export interface DnatPacket {
  src?: string;
  dst: string;
  protocol: 'tcp' | 'udp';
  port: number;
  /** `dst` is an address of the node (NodePorts answer there). */
  dstLocal: boolean;
  /** The source is the node itself (`fib saddr type local`). */
  srcLocal: boolean;
}

/**
 * Follows a packet through a compiled `@podnet/service-lb` ruleset (its table of the packet's
 * family, `ip` or `ip6`) the way the kernel does: the `services` dispatch (`service-ips`, then `service-nodeports` for a local
 * destination), then the filter checks (`no-endpoint-*`, `cluster-ips`, service CIDR drops). Pure.
 */
export function followServiceRules(ruleset: Ruleset, node: string, pkt: DnatPacket): DnatDecision {
  const none: DnatDecision = {
    node,
    action: 'none',
    endpoints: [],
    masquerade: false,
    affinity: false,
  };
  const family = pkt.dst.includes(':') ? 'ip6' : 'ip';
  const table = ruleset.tables.find((t) => t.family === family);
  if (!table) return none;
  const element = (set: string, key: string) =>
    table.elements.find((e) => e.set === set && e.key === key);
  const vipKey = `${pkt.dst} . ${pkt.protocol} . ${pkt.port}`;
  const npKey = `${pkt.protocol} . ${pkt.port}`;
  const lb = !element('service-ips', vipKey) && lbTarget(table, vipKey);
  if (lb) {
    const podCidrs = table.elements.filter((e) => e.set === 'pod-cidrs').map((e) => e.key);
    const fromPods = pkt.src !== undefined && podCidrs.some((c) => inCidr(pkt.src!, c));
    const hairpin = lb.endpoints.some((e) => e.ip === pkt.src);
    return {
      ...none,
      match: `${lb.set}[${vipKey}]`,
      chain: 'lb',
      action: 'dnat',
      endpoints: lb.endpoints,
      masquerade: (podCidrs.length > 0 && !fromPods) || hairpin,
    };
  }
  const hit =
    (element('service-ips', vipKey) && { set: 'service-ips', key: vipKey }) ||
    (pkt.dstLocal &&
      element('service-nodeports', npKey) && { set: 'service-nodeports', key: npKey });
  if (hit) {
    const value = element(hit.set, hit.key)!.value ?? '';
    const chain = /^goto (\S+)$/.exec(value)?.[1];
    const d: DnatDecision = {
      ...none,
      match: `${hit.set}[${hit.key}]`,
      ...(chain ? { chain } : {}),
      action: 'dnat',
    };
    if (chain) walkChain(table, chain, pkt, d, new Set());
    if (d.endpoints.length === 0) {
      d.action = 'drop';
      d.reason = `${value} reaches no endpoint`;
    }
    return d;
  }
  const miss =
    (element('no-endpoint-services', vipKey) && { set: 'no-endpoint-services', key: vipKey }) ||
    (pkt.dstLocal &&
      element('no-endpoint-nodeports', npKey) && { set: 'no-endpoint-nodeports', key: npKey });
  if (miss) {
    const value = element(miss.set, miss.key)!.value ?? '';
    const reject = value === 'goto reject-chain';
    return {
      ...none,
      match: `${miss.set}[${miss.key}]`,
      action: reject ? 'reject' : 'drop',
      reason: reject
        ? 'no endpoints: rejected (ICMP port unreachable)'
        : 'no endpoint for this traffic policy: dropped',
    };
  }
  if (element('cluster-ips', pkt.dst)) {
    return {
      ...none,
      match: `cluster-ips[${pkt.dst}]`,
      action: 'reject',
      reason: `port ${pkt.port}/${pkt.protocol} is not a port of this ClusterIP: rejected`,
    };
  }
  const check = table.chains.find((c) => c.name === 'cluster-ips-check');
  for (const rule of check?.rules ?? []) {
    const cidr = /^ip6? daddr (\S+) drop$/.exec(rule)?.[1];
    if (cidr && inCidr(pkt.dst, cidr)) {
      return {
        ...none,
        action: 'drop',
        reason: `${pkt.dst} is an unallocated address of the service CIDR ${cidr}: dropped`,
      };
    }
  }
  return none;
}

function walkChain(
  table: NftTable,
  name: string,
  pkt: DnatPacket,
  d: DnatDecision,
  seen: Set<string>,
): void {
  if (seen.has(name)) return;
  seen.add(name);
  const chain: NftChain | undefined = table.chains.find((c) => c.name === name);
  if (!chain) return;
  const podCidrs = table.elements.filter((e) => e.set === 'pod-cidrs').map((e) => e.key);
  const fromPods = pkt.src !== undefined && podCidrs.some((c) => inCidr(pkt.src!, c));
  const follow = (next: string) => walkChain(table, next, pkt, d, seen);
  for (const raw of chain.rules) {
    // the ip6 table's rules read as the ip table's with ip6 matches and [v6]:port targets
    const rule = raw.replace(/\bip6 (saddr|daddr)\b/g, 'ip $1');
    const dnat =
      /dnat to (\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(rule) ??
      /dnat to \[([0-9a-f:.]+)\]:(\d+)$/.exec(rule);
    if (dnat) {
      d.endpoints.push({ ip: dnat[1]!, port: Number(dnat[2]) });
      return;
    }
    const hairpin = /^ip saddr (\S+) jump mark-for-masquerade$/.exec(rule);
    const branch = /^numgen random mod \d+ == 0 goto (\S+)$/.exec(rule);
    const vmap = /^numgen random mod \d+ vmap \{ (.*) \}$/.exec(rule);
    const podsGoto = /^ip saddr @pod-cidrs goto (\S+)$/.exec(rule);
    const localSrc = /^fib saddr type local (?:jump mark-for-masquerade|goto (\S+))$/.exec(rule);
    const jump = /^goto (\S+)$/.exec(rule);
    if (rule === 'jump mark-for-masquerade') d.masquerade = true;
    else if (rule === 'ip saddr != @pod-cidrs jump mark-for-masquerade') {
      if (!fromPods) d.masquerade = true;
    } else if (hairpin) {
      if (pkt.src === hairpin[1]) d.masquerade = true;
    } else if (rule.startsWith('update @') || /^ip saddr @aff-\S+ goto \S+$/.test(rule))
      d.affinity = true;
    else if (branch) follow(branch[1]!);
    else if (vmap) {
      for (const g of vmap[1]!.matchAll(/goto ([^\s,]+)/g)) follow(g[1]!);
      return;
    } else if (podsGoto && fromPods) {
      follow(podsGoto[1]!);
      return;
    } else if (localSrc && pkt.srcLocal) {
      if (!localSrc[1]) d.masquerade = true;
      else {
        follow(localSrc[1]);
        return;
      }
    } else if (jump) {
      follow(jump[1]!);
      return;
    }
  }
}

/**
 * The overlay a node's agent plans from the Node objects (uplink eth0 on the node's segment,
 * fresh kernel state).
 */
export function planNodeOverlay(plan: ClusterPlan, nodes: readonly Node[], node: NodePlan) {
  const peers: PeerNode[] = [];
  for (const n of nodes) {
    const name = nameOf(n);
    const podCIDRs = nodePodCidrs(n);
    const nodeIPs = nodeInternalIps(n);
    if (!name || name === node.name || podCIDRs.length === 0 || nodeIPs.length === 0) continue;
    peers.push({ nodeName: name, nodeIPs, podCIDRs });
  }
  const seg = plan.segments[node.segment]!;
  const prefixes = (seg.cidrs ?? [seg.cidr]).map((c) => c.split('/')[1]);
  const nodeIPs = nodeIpsOf(node);
  return planOverlay(
    { nodeName: node.name, uplink: 'eth0', nodeIPs, podCIDRs: podCidrsOf(node) },
    peers,
    {
      uplink: {
        ifname: 'eth0',
        mtu: 1500,
        addrs: nodeIPs.map((ip, i) => `${ip}/${prefixes[i]}`),
      },
      deviceAddrs: [],
      neighbours: [],
      fdb: [],
      routes: [],
    },
  );
}

function overlayRoute(overlay: OverlayPlan, src: NodePlan, ip: string): string | undefined {
  for (const peer of overlay.peers) {
    const route = peer.routes.find((r) => inCidr(ip, r.dst));
    if (!route) continue;
    const head = `${src.name} → ${peer.nodeName} (pod CIDR ${route.dst})`;
    if (route.dev === overlay.device.name) {
      const mac = peer.neighbours.find((n) => n.dst === route.via)?.mac;
      const fdb = peer.fdb.find((f) => f.mac === mac);
      return `${head}: VXLAN, VTEP MAC ${mac}, node IP ${fdb?.dst}, VNI ${overlay.device.vni}, UDP ${overlay.device.port}, dev ${overlay.device.name} via ${route.via} onlink`;
    }
    return `${head}: DirectRouting via node IP ${route.via} dev ${route.dev} (same L2 segment, no encapsulation)`;
  }
  return undefined;
}

function referenceRoute(plan: ClusterPlan, src: NodePlan, ip: string): string | undefined {
  const lines = planReferenceRoutes(plan).nodeLines[src.name] ?? [];
  for (const l of lines) {
    if (!inCidr(ip, l[2]!)) continue;
    const owner = plan.nodes.find((n) => n.podCidr === l[2]);
    return `${src.name} → ${owner?.name ?? '?'} (pod CIDR ${l[2]}): reference network route via ${l[4]}`;
  }
  return undefined;
}

/**
 * Explains a flow with the packages' pure parts over the very objects the agents read (the
 * cluster's manifests, {@link renderCluster}): the cluster DNS answer (@podnet/dns's zone
 * compiler and resolver), the Service DNAT (@podnet/service-lb's compiled ruleset for the
 * deciding node, followed like the kernel does), the route or tunnel (@podnet/overlay-vxlan's
 * planner for the source node; the kernel's `ip route get` as a cross-check when given) and the
 * verdict of the NetworkPolicies and ClusterNetworkPolicies (@podnet/netpol's evaluator). A node
 * or `external` source is evaluated at its address (after the DNAT node's masquerade when the
 * endpoint lives elsewhere); a node source meets its own Service rules. Pure.
 */
export function explainFlow(ctx: ExplainContext, flow: ExplainFlow): Explanation {
  const { plan } = ctx;
  const steps: ExplainStep[] = [];
  const cluster = renderCluster(plan, ctx.objects);
  const literal = unbracket(flow.to);
  const family: IpFamily =
    flow.family === 6
      ? 'IPv6'
      : flow.family === 4
        ? 'IPv4'
        : (familyOfIp(literal) ?? planFamilies(plan)[0]!);
  const ipOfPod = (p: Pod) => ofFamily(podIpsOf(p), family);
  const src = findPod(cluster.pods, flow.from).pod;
  const srcIp = src && ipOfPod(src);
  const srcName = src ? keyOf(src) : flow.from;
  const fromNode = src ? undefined : plan.nodes.find((n) => n.name === flow.from);
  const srcNode = src ? plan.nodes.find((n) => n.name === nodeNameOf(src)) : fromNode;
  const srcAddr =
    srcIp ??
    flow.srcIp ??
    (fromNode
      ? ofFamily(nodeIpsOf(fromNode), family)
      : flow.from === 'external'
        ? ofFamily(externalIpsOf(plan), family)
        : undefined);
  steps.push({
    kind: 'source',
    detail: src
      ? `pod ${srcName} ${srcIp} on ${nodeNameOf(src)}`
      : `${fromNode ? `node ${flow.from}` : flow.from}${srcAddr ? ` ${srcAddr}` : ''} (not a pod: only the destination's ingress policy applies)`,
  });

  const dstPod = findPod(cluster.pods, flow.to).pod;
  const address =
    (dstPod && ipOfPod(dstPod)) ||
    (familyOfIp(literal) ? literal : resolveName(ctx, cluster, flow.to, steps, family));
  if (!address) return { steps, verdict: 'unknown' };

  let targets: { ip: string; port: number }[] = [{ ip: address, port: flow.port }];
  let routeNode = srcNode;
  let dnat: DnatDecision | undefined;
  const dstNode = plan.nodes.find((n) => nodeIpsOf(n).includes(address));
  const ruleNode = srcNode ?? dstNode;
  if (plan.network === 'podnet' && ruleNode) {
    const { services, endpointSlices } = cluster;
    const compile = (n: NodePlan) =>
      compileServices(
        { services, endpointSlices },
        {
          name: n.name,
          zone: nodeZone(n),
          clusterCIDRs: clusterCidrsOf(plan),
          serviceCIDRs: serviceCidrsOf(plan),
        },
        { families: [family === 'IPv6' ? 'ip6' : 'ip'] },
      );
    const pkt = (n: NodePlan): DnatPacket => ({
      ...(srcAddr ? { src: srcAddr } : {}),
      dst: address,
      protocol: flow.protocol === 'UDP' ? 'udp' : 'tcp',
      port: flow.port,
      dstLocal:
        nodeIpsOf(n).includes(address) || (n.podGateways ?? [n.podGateway]).includes(address),
      srcLocal: n === fromNode,
    });
    let d = followServiceRules(compile(ruleNode), ruleNode.name, pkt(ruleNode));
    // A NodePort addressed to another node is not DNATed here: that node's rules decide.
    if (d.action === 'none' && dstNode && dstNode !== ruleNode)
      d = followServiceRules(compile(dstNode), dstNode.name, pkt(dstNode));
    if (d.action !== 'none') {
      dnat = d;
      steps.push({ kind: 'service', detail: describeDnat(d, services, address, flow) });
      if (d.action !== 'dnat') return { steps, verdict: 'reject', dnat: d };
      targets = d.endpoints;
      const dnatNode = plan.nodes.find((n) => n.name === d.node)!;
      if (dnatNode !== routeNode) {
        if (routeNode) {
          const kernel = ctx.routeOf?.(address);
          steps.push({
            kind: 'route',
            detail: `${address}: ${routeNode.name} → ${dnatNode.name}'s node address over the underlay (DNATed there)${kernel ? `; kernel: ${kernel}` : ''}`,
          });
        }
        routeNode = dnatNode;
      }
    }
  }

  const overlay =
    routeNode && plan.network === 'podnet'
      ? planNodeOverlay(plan, cluster.nodes, routeNode)
      : undefined;
  for (const t of targets) {
    const pod = cluster.pods.find((p) => podIpsOf(p).includes(t.ip));
    let where: string | undefined;
    if (routeNode && podCidrsOf(routeNode).some((c) => inCidr(t.ip, c)))
      where = `local on ${routeNode.name}: ${pod ? `pod ${keyOf(pod)} behind its veth` : 'the node bridge'}`;
    else if (routeNode && overlay) where = overlayRoute(overlay, routeNode, t.ip);
    else if (routeNode) where = referenceRoute(plan, routeNode, t.ip);
    if (!where) {
      const node = plan.nodes.find((n) => nodeIpsOf(n).includes(t.ip));
      if (node) where = `${node.name}'s node address on the underlay`;
      else if (pod)
        where = `pod on ${nodeNameOf(pod)} (${flow.from} is not on a node: no route planned)`;
      else where = 'leaves the pod network via the node uplink (masqueraded to the node address)';
    }
    const kernel = routeNode === srcNode ? ctx.routeOf?.(t.ip) : undefined;
    steps.push({
      kind: 'route',
      detail: `${t.ip}: ${where}${kernel ? `; kernel: ${kernel}` : ''}`,
    });
  }

  const extra = dnat ? { dnat } : {};
  if (!src && !srcAddr) return { steps, verdict: 'allow', ...extra };
  let verdict: 'allow' | 'deny' = 'allow';
  const policies: PolicyVerdict[] = [];
  const policyState = withHostIps(plan, cluster);
  for (const t of targets) {
    const from = src
      ? // a pod named as the source is taken at its first address: another family's goes as the IP
        srcIp && srcIp !== podIpsOf(src)[0]
        ? srcIp
        : srcName
      : seenSource(plan, dnat, srcAddr!, t.ip, family);
    const e = evaluate(policyState, {
      src: from,
      dst: t.ip,
      protocol: flow.protocol,
      port: t.port,
    });
    if (e.verdict === 'deny') verdict = 'deny';
    const audit = e.audit && {
      policies: e.audit.policies.map(formatPolicyRef),
      verdict: e.audit.verdict,
      wouldDrop: e.audit.wouldDrop,
    };
    policies.push({
      ip: t.ip,
      port: t.port,
      src: from,
      verdict: e.verdict,
      summary: e.explanation.summary,
      ...(audit ? { audit } : {}),
    });
    const masq = !src && from !== srcAddr ? ` (from ${from}: masqueraded by ${dnat?.node})` : '';
    steps.push({
      kind: 'policy',
      detail: `${hostPort(t.ip, t.port)} ${e.verdict}${masq}: ${e.explanation.summary}`,
    });
    if (audit)
      steps.push({
        kind: 'policy',
        detail: `${hostPort(t.ip, t.port)} audited, never dropped: ${audit.policies.join(', ')}; enforced they would ${audit.verdict}${audit.wouldDrop ? ' (logged as would-drop)' : ''}`,
      });
  }
  return { steps, verdict, ...extra, policies };
}

/**
 * The snapshot with each pod's `status.hostIPs` set from its node's plan when the runtime left it
 * out, so the evaluator knows traffic from a pod's own node (always allowed; in the kernel it
 * leaves through the node's output hook and never meets the forward-hook policy chains).
 */
function withHostIps(plan: ClusterPlan, cluster: ClusterSnapshot): ClusterSnapshot {
  const pods = cluster.pods.map((p) => {
    if (p.status?.hostIPs?.length || p.status?.hostIP) return p;
    const node = plan.nodes.find((n) => n.name === nodeNameOf(p));
    if (!node) return p;
    const hostIPs = nodeIpsOf(node).map((ip) => ({ ip }));
    return { ...p, status: { ...p.status, hostIP: hostIPs[0]!.ip, hostIPs } };
  });
  return { ...cluster, pods };
}

/**
 * The source address a destination's policy sees for a flow from outside the pods: the original
 * one, unless the Service rules masquerade it and the endpoint lives on another node than the one
 * that DNATs (masquerade happens at postrouting, after the DNAT node's own forward-hook policy
 * check; the endpoint's node sees the DNAT node's address).
 */
function seenSource(
  plan: ClusterPlan,
  dnat: DnatDecision | undefined,
  srcAddr: string,
  dst: string,
  family: IpFamily,
): string {
  if (!dnat?.masquerade) return srcAddr;
  const node = plan.nodes.find((n) => n.name === dnat.node);
  if (!node || podCidrsOf(node).some((c) => inCidr(dst, c))) return srcAddr;
  return ofFamily(nodeIpsOf(node), family) ?? srcAddr;
}

function resolveName(
  ctx: ExplainContext,
  cluster: ClusterSnapshot,
  to: string,
  steps: ExplainStep[],
  family: IpFamily = 'IPv4',
): string | undefined {
  const type = family === 'IPv6' ? 'AAAA' : 'A';
  const { plan } = ctx;
  const zone = compileZone(cluster, { zone: plan.clusterDomain });
  const name = to.replace(/\.$/, '');
  const dots = name.split('.').length - 1;
  const expanded = ctx.search.map((s) => `${name}.${s}`);
  const candidates = to.endsWith('.')
    ? [name]
    : dots >= ctx.ndots
      ? [name, ...expanded]
      : [...expanded, name];
  for (const c of candidates) {
    const r = resolveDns(zone, { name: c, type });
    if (r.kind === 'forward') {
      steps.push({
        kind: 'dns',
        detail: `${c}: outside ${plan.clusterDomain}, forwarded upstream`,
      });
      continue;
    }
    const a = r.answers.find((x) => x.type === type);
    if (r.rcode === 'NOERROR' && a) {
      steps.push({ kind: 'dns', detail: `${c} ${type} ${a.data as string} (from ${plan.dnsIp})` });
      return a.data as string;
    }
    steps.push({ kind: 'dns', detail: `${c}: ${r.rcode}` });
  }
  return undefined;
}

/** `ip:port`, an IPv6 address in brackets (`[fd00::1]:80`). */
function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Names the Service (and port) a matched map key belongs to, from the Service objects. */
function ownerOf(
  services: readonly Service[],
  d: DnatDecision,
  address: string,
  flow: ExplainFlow,
) {
  const nodePort =
    d.match?.startsWith('service-nodeports') || d.match?.startsWith('no-endpoint-nodeports');
  const isVip = (s: Service) =>
    s.spec?.clusterIP === address || (s.spec?.clusterIPs ?? []).includes(address);
  for (const s of services) {
    const spec = s.spec ?? {};
    const p = spec.ports?.find(
      (x) =>
        (x.protocol ?? 'TCP') === flow.protocol &&
        (nodePort ? x.nodePort === flow.port : isVip(s) && x.port === flow.port),
    );
    if (p) return { name: keyOf(s), port: p, nodePort };
    if (!nodePort && isVip(s)) return { name: keyOf(s), port: undefined, nodePort };
  }
  return undefined;
}

function describeDnat(
  d: DnatDecision,
  services: readonly Service[],
  address: string,
  flow: ExplainFlow,
): string {
  const owner = ownerOf(services, d, address, flow);
  const proto = flow.protocol;
  const svc = owner
    ? `Service ${owner.name} ${owner.port ? `port ${owner.port.name ? `${owner.port.name} ` : ''}${owner.nodePort ? `NodePort ${flow.port}` : hostPort(address, flow.port)}/${proto}` : `(no port ${flow.port}/${proto})`}`
    : `${hostPort(address, flow.port)}/${proto}`;
  const rule = `${d.node}'s podnet-svc ${d.match ?? 'cluster-ips-check'}`;
  if (d.action !== 'dnat') return `${svc}: ${d.reason} (${rule})`;
  const eps = d.endpoints.map((e) => hostPort(e.ip, e.port)).join(', ');
  const extra = [d.masquerade ? 'masqueraded' : '', d.affinity ? 'ClientIP affinity' : ''].filter(
    Boolean,
  );
  return `${svc}: DNAT to ${d.endpoints.length === 1 ? '' : 'one of '}${eps} (${rule} → ${d.chain}${extra.length ? `; ${extra.join(', ')}` : ''})`;
}
