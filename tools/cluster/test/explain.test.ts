import { vtepMacFor } from '@podnet/overlay-vxlan';
import { compileServices } from '@podnet/service-lb';
import { describe, expect, it } from 'vitest';
import {
  type ExplainStep,
  explainFlow,
  followServiceRules,
  planCluster,
  planNodeOverlay,
  renderCluster,
} from '../src/index.js';
import { appliedObjects } from './objects.js';

const plan = planCluster({ name: 't', prefix: 'pnc-t-', nodes: 3, network: 'podnet' });

function pod(
  name: string,
  nodeName: string,
  labels: Record<string, string> = {},
  ports: unknown[] = [],
) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: { nodeName, containers: [{ name: 'c', ports }] },
  };
}

const http = [{ name: 'http', containerPort: 8080, protocol: 'TCP' }];
const service = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec,
});
// The cluster's objects as `podnet apply` and the runtime leave them (addresses as the CNI gave).
const objects = appliedObjects(
  plan,
  [
    pod('client', 'node1', { role: 'client' }),
    pod('web-1', 'node1', { app: 'web' }, http),
    pod('web-2', 'node3', { app: 'web' }, http),
    pod('other', 'node2', {}, [{ containerPort: 9000, protocol: 'UDP' }]),
    service('web', {
      type: 'NodePort',
      selector: { app: 'web' },
      clusterIP: '10.96.0.11',
      ports: [{ port: 80, targetPort: 'http', protocol: 'TCP', nodePort: 30080 }],
    }),
    service('empty', {
      selector: { app: 'none' },
      clusterIP: '10.96.0.12',
      ports: [{ port: 80, targetPort: 80 }],
    }),
    service('udp', {
      selector: { app: 'web' },
      clusterIP: '10.96.0.13',
      ports: [{ name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' }],
    }),
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'web-from-client', namespace: 'default' },
      spec: {
        podSelector: { matchLabels: { app: 'web' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }],
      },
    },
  ],
  {
    'default/client': '10.244.1.2',
    'default/web-1': '10.244.1.3',
    'default/web-2': '10.244.3.2',
    'default/other': '10.244.2.2',
  },
);
const ctx = {
  plan,
  objects,
  search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
  ndots: 5,
};

const mac3 = vtepMacFor('node3');
const mac1 = vtepMacFor('node1');
const vxlanTo3 = `node1 → node3 (pod CIDR 10.244.3.0/24): VXLAN, VTEP MAC ${mac3}, node IP 172.30.1.13, VNI 1, UDP 8472, dev podnet.1 via 10.244.3.0 onlink`;

interface Case {
  name: string;
  from: string;
  to: string;
  port: number;
  protocol?: 'TCP' | 'UDP';
  verdict: 'allow' | 'deny' | 'reject' | 'unknown';
  /** Every step, in order, as `kind detail` (details compared exactly, or by `~substring`). */
  steps: string[];
}

const cases: Case[] = [
  {
    name: 'a Service by short name: search path, compiled DNAT, local + cross-node VXLAN routes',
    from: 'client',
    to: 'web',
    port: 80,
    verdict: 'allow',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      'dns web.default.svc.cluster.local A 10.96.0.11 (from 10.96.0.10)',
      "~service Service default/web port 10.96.0.11:80/TCP: DNAT to one of 10.244.1.3:8080, 10.244.3.2:8080 (node1's podnet-svc lb-2[10.96.0.11 . tcp . 80] → lb)",
      'route 10.244.1.3: local on node1: pod default/web-1 behind its veth',
      `route 10.244.3.2: ${vxlanTo3}`,
      '~policy 10.244.1.3:8080 allow',
      '~policy 10.244.3.2:8080 allow',
    ],
  },
  {
    name: 'a pod on a node across the router: VXLAN to that node',
    from: 'client',
    to: 'web-2',
    port: 8080,
    verdict: 'allow',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      `route 10.244.3.2: ${vxlanTo3}`,
      '~policy 10.244.3.2:8080 allow',
    ],
  },
  {
    name: 'a pod on a node of the same L2 segment: DirectRouting via its node IP',
    from: 'client',
    to: '10.244.2.2',
    port: 9000,
    protocol: 'UDP',
    verdict: 'allow',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      'route 10.244.2.2: node1 → node2 (pod CIDR 10.244.2.0/24): DirectRouting via node IP 172.30.0.12 dev eth0 (same L2 segment, no encapsulation)',
      '~policy 10.244.2.2:9000 allow',
    ],
  },
  {
    name: 'a Service without endpoints is rejected by its no-endpoint element',
    from: 'client',
    to: 'empty.default.svc.cluster.local.',
    port: 80,
    verdict: 'reject',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      'dns empty.default.svc.cluster.local A 10.96.0.12 (from 10.96.0.10)',
      "service Service default/empty port 10.96.0.12:80/TCP: no endpoints: rejected (ICMP port unreachable) (node1's podnet-svc no-endpoint-services[10.96.0.12 . tcp . 80])",
    ],
  },
  {
    name: 'a ClusterIP on a port it does not serve is rejected through cluster-ips',
    from: 'client',
    to: '10.96.0.11',
    port: 81,
    verdict: 'reject',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      "service Service default/web (no port 81/TCP): port 81/tcp is not a port of this ClusterIP: rejected (node1's podnet-svc cluster-ips[10.96.0.11])",
    ],
  },
  {
    name: 'the same ClusterIP over the wrong protocol is rejected too',
    from: 'client',
    to: '10.96.0.11',
    port: 80,
    protocol: 'UDP',
    verdict: 'reject',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      "service Service default/web (no port 80/UDP): port 80/udp is not a port of this ClusterIP: rejected (node1's podnet-svc cluster-ips[10.96.0.11])",
    ],
  },
  {
    name: 'an unallocated address of the service CIDR is dropped',
    from: 'client',
    to: '10.96.0.99',
    port: 80,
    verdict: 'reject',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      "service 10.96.0.99:80/TCP: 10.96.0.99 is an unallocated address of the service CIDR 10.96.0.0/16: dropped (node1's podnet-svc cluster-ips-check)",
    ],
  },
  {
    name: 'a UDP Service port maps to its target port',
    from: 'client',
    to: 'udp',
    port: 53,
    protocol: 'UDP',
    verdict: 'allow',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      'dns udp.default.svc.cluster.local A 10.96.0.13 (from 10.96.0.10)',
      "~service Service default/udp port dns 10.96.0.13:53/UDP: DNAT to one of 10.244.1.3:5353, 10.244.3.2:5353 (node1's podnet-svc lb-2[10.96.0.13 . udp . 53] → lb)",
      'route 10.244.1.3: local on node1: pod default/web-1 behind its veth',
      `route 10.244.3.2: ${vxlanTo3}`,
      '~policy 10.244.1.3:5353 allow',
      '~policy 10.244.3.2:5353 allow',
    ],
  },
  {
    name: 'a NodePort on another node: underlay to that node, its rules DNAT (masqueraded), its overlay routes',
    from: 'client',
    to: '172.30.1.13',
    port: 30080,
    verdict: 'allow',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      "~service Service default/web port NodePort 30080/TCP: DNAT to one of 10.244.1.3:8080, 10.244.3.2:8080 (node3's podnet-svc service-nodeports[tcp . 30080] → ext-",
      "route 172.30.1.13: node1 → node3's node address over the underlay (DNATed there)",
      `route 10.244.1.3: node3 → node1 (pod CIDR 10.244.1.0/24): VXLAN, VTEP MAC ${mac1}, node IP 172.30.0.11, VNI 1, UDP 8472, dev podnet.1 via 10.244.1.0 onlink`,
      'route 10.244.3.2: local on node3: pod default/web-2 behind its veth',
      '~policy 10.244.1.3:8080 allow',
      '~policy 10.244.3.2:8080 allow',
    ],
  },
  {
    name: 'an unknown NodePort is not a Service: the flow goes to the node address',
    from: 'client',
    to: '172.30.0.12',
    port: 31999,
    verdict: 'allow',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      "route 172.30.0.12: node2's node address on the underlay",
      '~policy 172.30.0.12:31999 allow',
    ],
  },
  {
    name: 'a pod the policy does not admit is denied, naming the policy',
    from: 'other',
    to: 'web-2',
    port: 8080,
    verdict: 'deny',
    steps: [
      'source pod default/other 10.244.2.2 on node2',
      `route 10.244.3.2: node2 → node3 (pod CIDR 10.244.3.0/24): VXLAN, VTEP MAC ${mac3}, node IP 172.30.1.13, VNI 1, UDP 8472, dev podnet.1 via 10.244.3.0 onlink`,
      '~policy 10.244.3.2:8080 deny: default/other -> default/web-2',
    ],
  },
  {
    name: 'egress to an address outside the cluster leaves through the uplink',
    from: 'client',
    to: '203.0.113.10',
    port: 80,
    verdict: 'allow',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      'route 203.0.113.10: leaves the pod network via the node uplink (masqueraded to the node address)',
      '~policy 203.0.113.10:80 allow',
    ],
  },
  {
    name: 'a name the cluster DNS does not know',
    from: 'client',
    to: 'nosuch',
    port: 80,
    verdict: 'unknown',
    steps: [
      'source pod default/client 10.244.1.2 on node1',
      'dns nosuch.default.svc.cluster.local: NXDOMAIN',
      'dns nosuch.svc.cluster.local: NXDOMAIN',
      'dns nosuch.cluster.local: NXDOMAIN',
      'dns nosuch: outside cluster.local, forwarded upstream',
    ],
  },
];

function line(s: ExplainStep): string {
  return `${s.kind} ${s.detail}`;
}

describe('explainFlow', () => {
  it.each(cases)('$name', (c) => {
    const e = explainFlow(ctx, {
      from: c.from,
      to: c.to,
      port: c.port,
      protocol: c.protocol ?? 'TCP',
    });
    const got = e.steps.map(line);
    expect(got).toHaveLength(c.steps.length);
    c.steps.forEach((want, i) => {
      if (want.startsWith('~')) expect(got[i]).toContain(want.slice(1));
      else expect(got[i]).toBe(want);
    });
    expect(e.verdict).toBe(c.verdict);
  });

  it('names the policy that isolates the target', () => {
    const e = explainFlow(ctx, { from: 'other', to: 'web-2', port: 8080, protocol: 'TCP' });
    expect(e.steps.at(-1)!.detail).toContain('web-from-client');
  });

  it('adds the kernel route as a cross-check only for routes taken from the source node', () => {
    const asked: string[] = [];
    const routeOf = (ip: string) => {
      asked.push(ip);
      return `${ip} dev x`;
    };
    const e = explainFlow(
      { ...ctx, routeOf },
      { from: 'client', to: '172.30.1.13', port: 30080, protocol: 'TCP' },
    );
    expect(asked).toEqual(['172.30.1.13']);
    expect(e.steps.filter((s) => s.detail.includes('; kernel: ')).map((s) => s.detail)).toEqual([
      "172.30.1.13: node1 → node3's node address over the underlay (DNATed there); kernel: 172.30.1.13 dev x",
    ]);
  });

  it('a source outside the cluster meets the rules and the overlay of the node it addresses', () => {
    const e = explainFlow(ctx, {
      from: 'external',
      to: '172.30.0.12',
      port: 30080,
      protocol: 'TCP',
    });
    // masqueraded by node2 (a NodePort), both endpoints elsewhere: their ingress sees node2's
    // address, which web-from-client does not admit
    expect(e.verdict).toBe('deny');
    expect(e.policies?.map((p) => [p.ip, p.src, p.verdict])).toEqual([
      ['10.244.1.3', '172.30.0.12', 'deny'],
      ['10.244.3.2', '172.30.0.12', 'deny'],
    ]);
    expect(e.dnat).toMatchObject({ node: 'node2', action: 'dnat', masquerade: true });
    expect(e.steps.map(line).slice(0, -2)).toEqual([
      "source external 203.0.113.10 (not a pod: only the destination's ingress policy applies)",
      expect.stringContaining(
        "NodePort 30080/TCP: DNAT to one of 10.244.1.3:8080, 10.244.3.2:8080 (node2's",
      ),
      `route 10.244.1.3: node2 → node1 (pod CIDR 10.244.1.0/24): DirectRouting via node IP 172.30.0.11 dev eth0 (same L2 segment, no encapsulation)`,
      `route 10.244.3.2: node2 → node3 (pod CIDR 10.244.3.0/24): VXLAN, VTEP MAC ${mac3}, node IP 172.30.1.13, VNI 1, UDP 8472, dev podnet.1 via 10.244.3.0 onlink`,
    ]);
  });

  it('policy is evaluated for a node source: its own pods admit it, another node is isolated', () => {
    const local = explainFlow(ctx, { from: 'node1', to: 'web-1', port: 8080, protocol: 'TCP' });
    expect(local.steps[0]!.detail).toBe(
      "node node1 172.30.0.11 (not a pod: only the destination's ingress policy applies)",
    );
    expect(local.verdict).toBe('allow');
    expect(local.policies?.[0]).toMatchObject({ src: '172.30.0.11', verdict: 'allow' });
    expect(local.steps.at(-1)!.detail).toContain('own node is always allowed');
    const remote = explainFlow(ctx, { from: 'node2', to: 'web-1', port: 8080, protocol: 'TCP' });
    expect(remote.verdict).toBe('deny');
    expect(remote.steps.at(-1)!.detail).toContain('NetworkPolicy default/web-from-client');
    // a pod no policy selects admits the node
    const open = explainFlow(ctx, { from: 'node2', to: 'other', port: 9000, protocol: 'UDP' });
    expect(open.verdict).toBe('allow');
  });

  it('a node source meets its own Service rules (fib saddr type local) and is masqueraded', () => {
    const e = explainFlow(ctx, { from: 'node1', to: '10.96.0.11', port: 80, protocol: 'TCP' });
    expect(e.dnat).toMatchObject({ node: 'node1', action: 'dnat', masquerade: true });
    // web-1 is local to node1: no masquerade before its policy, the node is admitted;
    // web-2 on node3 sees node1's address and its policy denies it
    expect(e.policies?.map((p) => [p.ip, p.src, p.verdict])).toEqual([
      ['10.244.1.3', '172.30.0.11', 'allow'],
      ['10.244.3.2', '172.30.0.11', 'deny'],
    ]);
    expect(e.verdict).toBe('deny');
  });

  it('an external source a policy admits by ipBlock is allowed; its given address counts', () => {
    const withBlock = appliedObjects(
      plan,
      [
        pod('web-1', 'node1', { app: 'web' }, http),
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { name: 'web-from-outside', namespace: 'default' },
          spec: {
            podSelector: { matchLabels: { app: 'web' } },
            ingress: [{ from: [{ ipBlock: { cidr: '203.0.113.0/24' } }] }],
          },
        },
      ],
      { 'default/web-1': '10.244.1.3' },
    );
    const c = { ...ctx, objects: withBlock };
    const flow = { from: 'external', to: '10.244.1.3', port: 8080, protocol: 'TCP' as const };
    expect(explainFlow(c, flow).verdict).toBe('allow');
    expect(explainFlow(c, { ...flow, srcIp: '198.51.100.7' }).verdict).toBe('deny');
  });

  it('the reference network has no Service rules and routes by its static routes', () => {
    const ref = planCluster({ name: 't', prefix: 'pnc-t-', nodes: 3, network: 'reference' });
    const e = explainFlow(
      { ...ctx, plan: ref },
      { from: 'client', to: '10.244.3.2', port: 8080, protocol: 'TCP' },
    );
    expect(e.steps.map((s) => s.kind)).toEqual(['source', 'route', 'policy']);
    expect(e.steps[1]!.detail).toBe(
      '10.244.3.2: node1 → node3 (pod CIDR 10.244.3.0/24): reference network route via 172.30.0.1',
    );
  });
});

describe('followServiceRules', () => {
  const cluster = renderCluster(plan, objects);
  const ruleset = compileServices(
    { services: cluster.services, endpointSlices: cluster.endpointSlices },
    { name: 'node1', clusterCIDRs: ['10.244.0.0/16'], serviceCIDRs: ['10.96.0.0/16'] },
    { families: ['ip'] },
  );
  const pkt = { protocol: 'tcp' as const, srcLocal: false };

  it('a ClusterIP from a pod: the shared lb chain, every endpoint, no masquerade', () => {
    const d = followServiceRules(ruleset, 'node1', {
      ...pkt,
      src: '10.244.1.2',
      dst: '10.96.0.11',
      port: 80,
      dstLocal: false,
    });
    expect(d).toMatchObject({
      action: 'dnat',
      match: 'lb-2[10.96.0.11 . tcp . 80]',
      masquerade: false,
      endpoints: [
        { ip: '10.244.1.3', port: 8080 },
        { ip: '10.244.3.2', port: 8080 },
      ],
    });
    expect(d.chain).toBe('lb');
  });

  it('a ClusterIP from outside the pod CIDRs is masqueraded', () => {
    const d = followServiceRules(ruleset, 'node1', {
      ...pkt,
      src: '172.30.0.11',
      dst: '10.96.0.11',
      port: 80,
      dstLocal: false,
    });
    expect(d.masquerade).toBe(true);
  });

  it('a NodePort answers only on a local destination', () => {
    const base = { ...pkt, src: '203.0.113.10', dst: '172.30.0.11', port: 30080 };
    expect(followServiceRules(ruleset, 'node1', { ...base, dstLocal: true })).toMatchObject({
      action: 'dnat',
      match: 'service-nodeports[tcp . 30080]',
      masquerade: true,
    });
    expect(followServiceRules(ruleset, 'node1', { ...base, dstLocal: false }).action).toBe('none');
  });

  it('the overlay plan of a node has one peer per other node, as the planner decides', () => {
    const o = planNodeOverlay(plan, cluster.nodes, plan.nodes[0]!);
    expect(o.peers.map((p) => [p.nodeName, p.mode])).toEqual([
      ['node2', 'direct'],
      ['node3', 'vxlan'],
    ]);
    expect(o.device).toMatchObject({ name: 'podnet.1', vni: 1, mac: mac1, local: '172.30.0.11' });
  });
});

describe('explainFlow with ClusterNetworkPolicies', () => {
  const deny = {
    apiVersion: 'policy.networking.k8s.io/v1alpha2',
    kind: 'ClusterNetworkPolicy',
    metadata: { name: 'no-client-to-web' },
    spec: {
      tier: 'Admin',
      priority: 10,
      subject: {
        pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: 'web' } } },
      },
      ingress: [
        {
          name: 'deny-client',
          action: 'Deny',
          from: [
            { pods: { namespaceSelector: {}, podSelector: { matchLabels: { role: 'client' } } } },
          ],
        },
      ],
    },
  };

  it('an Admin Deny wins over the NetworkPolicy that allows the flow, and is named', () => {
    const withCnp = appliedObjects(plan, [deny]);
    const e = explainFlow(
      { ...ctx, objects: { ...objects, clusterNetworkPolicies: withCnp.clusterNetworkPolicies } },
      { from: 'client', to: 'web-1', port: 8080, protocol: 'TCP' },
    );
    expect(e.verdict).toBe('deny');
    expect(e.steps.at(-1)!.detail).toContain('ClusterNetworkPolicy');
    expect(e.steps.at(-1)!.detail).toContain('no-client-to-web');
    // without it the NetworkPolicy admits the client
    expect(
      explainFlow(ctx, { from: 'client', to: 'web-1', port: 8080, protocol: 'TCP' }).verdict,
    ).toBe('allow');
  });

  it('the same Deny audited (podnet.io/enforcement: audit) allows, and is listed apart as would-drop', () => {
    const audited = {
      ...deny,
      metadata: { ...deny.metadata, annotations: { 'podnet.io/enforcement': 'audit' } },
    };
    const withCnp = appliedObjects(plan, [audited]);
    const e = explainFlow(
      { ...ctx, objects: { ...objects, clusterNetworkPolicies: withCnp.clusterNetworkPolicies } },
      { from: 'client', to: 'web-1', port: 8080, protocol: 'TCP' },
    );
    expect(e.verdict).toBe('allow');
    expect(e.policies?.[0]?.audit).toEqual({
      policies: ['ClusterNetworkPolicy no-client-to-web (Admin tier, priority 10)'],
      verdict: 'deny',
      wouldDrop: true,
    });
    expect(e.steps.at(-1)!.detail).toBe(
      `${e.policies![0]!.ip}:8080 audited, never dropped: ClusterNetworkPolicy no-client-to-web (Admin tier, priority 10); enforced they would deny (logged as would-drop)`,
    );
    // no audited policy selects the flow: nothing listed
    const plain = explainFlow(ctx, { from: 'client', to: 'web-1', port: 8080, protocol: 'TCP' });
    expect(plain.policies?.[0]?.audit).toBeUndefined();
  });
});
