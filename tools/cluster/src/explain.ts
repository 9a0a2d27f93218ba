import { type ClusterDnsState, compileZone, resolve as resolveDns } from '@podnet/dns';
import { type ClusterState as PolicyState, evaluate } from '@podnet/netpol';
import type { ClusterPlan } from './plan.js';
import type { PodRecord, ServiceRecord } from './model.js';
import { planEndpointSlice, renderManifests, type ControlPlaneState } from './model.js';

/** One step a flow meets on its way. */
export interface ExplainStep {
  kind: 'source' | 'dns' | 'service' | 'route' | 'policy';
  detail: string;
}

/** What {@link explainFlow} found: the steps, and whether policy admits the flow. */
export interface Explanation {
  steps: ExplainStep[];
  /** `allow`/`deny` from the policy evaluator; `unknown` when the target did not resolve. */
  verdict: 'allow' | 'deny' | 'unknown';
}

/** A flow to explain. `to` is a pod (`ns/name` or unique name), an IP or a DNS name. */
export interface ExplainFlow {
  from: string;
  to: string;
  port: number;
  protocol: 'TCP' | 'UDP';
}

/** Facts the explainer reads beyond the control-plane state. */
export interface ExplainContext {
  plan: ClusterPlan;
  state: ControlPlaneState;
  /** The source pod's resolv.conf search list and ndots (DNS names are expanded like libc does). */
  search: string[];
  ndots: number;
  /** The kernel's answer to `ip route get DST` on the source node, per destination IP (optional). */
  routeOf?: (dstIp: string) => string | undefined;
}

function findPod(state: ControlPlaneState, ref: string): PodRecord | undefined {
  const [a, b] = ref.split('/');
  if (b !== undefined) return state.pods.find((p) => p.namespace === a && p.name === b);
  const m = state.pods.filter((p) => p.name === a);
  return m.length === 1 ? m[0] : undefined;
}

function byKind(files: Record<string, Record<string, unknown>>, kind: string) {
  return Object.values(files).filter((o) => o.kind === kind);
}

/**
 * Explains a flow with the packages' pure parts: the cluster DNS answer (@podnet/dns's zone
 * compiler and resolver over the same manifests the agents read), the Service DNAT (endpoints of
 * the endpoint-slice controller), the route (the kernel's, when given) and the NetworkPolicy
 * verdict (@podnet/netpol's evaluator). Pure.
 */
export function explainFlow(ctx: ExplainContext, flow: ExplainFlow): Explanation {
  const { plan, state } = ctx;
  const steps: ExplainStep[] = [];
  const files = renderManifests(plan, state);
  const src = findPod(state, flow.from);
  const srcName = src ? `${src.namespace}/${src.name}` : flow.from;
  steps.push({
    kind: 'source',
    detail: src
      ? `pod ${srcName} ${src.ip} on ${src.nodeName}`
      : `${flow.from} (not a pod: policy does not select it)`,
  });

  let address: string | undefined;
  const dstPod = findPod(state, flow.to);
  if (dstPod?.ip) address = dstPod.ip;
  else if (/^\d+\.\d+\.\d+\.\d+$/.test(flow.to)) address = flow.to;
  else {
    const zone = compileZone(
      {
        namespaces: byKind(files, 'Namespace'),
        services: byKind(files, 'Service'),
        endpointSlices: byKind(files, 'EndpointSlice'),
        pods: byKind(files, 'Pod'),
      } as unknown as ClusterDnsState,
      { zone: plan.clusterDomain },
    );
    const name = flow.to.replace(/\.$/, '');
    const dots = name.split('.').length - 1;
    const expanded = ctx.search.map((s) => `${name}.${s}`);
    const candidates = flow.to.endsWith('.')
      ? [name]
      : dots >= ctx.ndots
        ? [name, ...expanded]
        : [...expanded, name];
    for (const c of candidates) {
      const r = resolveDns(zone, { name: c, type: 'A' });
      if (r.kind === 'forward') {
        steps.push({
          kind: 'dns',
          detail: `${c}: outside ${plan.clusterDomain}, forwarded upstream`,
        });
        continue;
      }
      const a = r.answers.find((x) => x.type === 'A');
      if (r.rcode === 'NOERROR' && a) {
        address = a.data as string;
        steps.push({ kind: 'dns', detail: `${c} A ${address} (from ${plan.dnsIp})` });
        break;
      }
      steps.push({ kind: 'dns', detail: `${c}: ${r.rcode}` });
    }
    if (!address) return { steps, verdict: 'unknown' };
  }

  const svc = state.services.find(
    (s) =>
      (s.clusterIP === address &&
        s.ports.some((p) => p.port === flow.port && p.protocol === flow.protocol)) ||
      (plan.nodes.some((n) => n.ip === address) &&
        s.ports.some((p) => p.nodePort === flow.port && p.protocol === flow.protocol)),
  );
  let targets: { ip: string; port: number }[] = [{ ip: address, port: flow.port }];
  if (svc) targets = serviceTargets(svc, state, flow, steps);

  const srcNode = src ? plan.nodes.find((n) => n.name === src.nodeName) : undefined;
  for (const t of targets) {
    const pod = state.pods.find((p) => p.ip === t.ip);
    let where: string;
    if (pod && srcNode && pod.nodeName === srcNode.name)
      where = `local on ${srcNode.name}: the pod's veth`;
    else if (pod) {
      const dst = plan.nodes.find((n) => n.name === pod.nodeName)!;
      const sameSegment = srcNode && srcNode.segment === dst.segment;
      where = `${srcNode?.name ?? 'here'} → ${dst.name} (${dst.ip}, ${sameSegment ? 'same L2 segment' : 'across the router'})`;
    } else where = 'leaves the pod network via the node uplink (masqueraded to the node address)';
    const kernel = ctx.routeOf?.(t.ip);
    steps.push({
      kind: 'route',
      detail: `${t.ip}: ${where}${kernel ? `; kernel: ${kernel}` : ''}`,
    });
  }

  if (!src) return { steps, verdict: 'allow' };
  const policyState = {
    namespaces: byKind(files, 'Namespace'),
    pods: byKind(files, 'Pod'),
    networkPolicies: state.networkPolicies,
  } as unknown as PolicyState;
  let verdict: 'allow' | 'deny' = 'allow';
  for (const t of targets) {
    const e = evaluate(policyState, {
      src: srcName,
      dst: t.ip,
      protocol: flow.protocol,
      port: t.port,
    });
    if (e.verdict === 'deny') verdict = 'deny';
    steps.push({
      kind: 'policy',
      detail: `${t.ip}:${t.port} ${e.verdict}: ${e.explanation.summary}`,
    });
  }
  return { steps, verdict };
}

function serviceTargets(
  svc: ServiceRecord,
  state: ControlPlaneState,
  flow: ExplainFlow,
  steps: ExplainStep[],
): { ip: string; port: number }[] {
  const sp = svc.ports.find(
    (p) => (p.port === flow.port || p.nodePort === flow.port) && p.protocol === flow.protocol,
  )!;
  const slice = planEndpointSlice(svc, state.pods) as {
    endpoints: { addresses: string[] }[];
    ports: { name: string; port: number }[];
  };
  const port =
    slice.ports.find((p) => p.name === (sp.name ?? ''))?.port ??
    (typeof sp.targetPort === 'number' ? sp.targetPort : 0);
  const targets = slice.endpoints.map((e) => ({ ip: e.addresses[0]!, port }));
  steps.push({
    kind: 'service',
    detail:
      targets.length === 0
        ? `Service ${svc.namespace}/${svc.name} has no ready endpoints: rejected`
        : `Service ${svc.namespace}/${svc.name} (${sp.nodePort === flow.port ? `NodePort ${flow.port}` : `${svc.clusterIP}:${sp.port}`}): DNAT to one of ${targets.map((t) => `${t.ip}:${t.port}`).join(', ')}`,
  });
  return targets;
}
