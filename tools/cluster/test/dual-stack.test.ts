import type { Pod } from '@podnet/cluster-state';
import { describe, expect, it } from 'vitest';
import {
  allocateServices,
  ClusterError,
  emptyClusterObjects,
  explainFlow,
  formatIpv6,
  inCidr,
  manifestObjects,
  parseIpv6,
  planApply,
  planCluster,
  planEndpointSlices,
  renderCluster,
  serviceFamilies,
} from '../src/index.js';

const opts = { name: 't', prefix: 'pnc-t-', nodes: 3, network: 'podnet' as const };
const dual = planCluster({ ...opts, ipFamily: 'dual' });
const v6only = planCluster({ ...opts, ipFamily: 'ipv6' });
const v4only = planCluster(opts);

const svc = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'v1' as const,
  kind: 'Service' as const,
  metadata: { name, namespace: 'default' },
  spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }], ...spec },
});

const pod = (name: string, node: string, app: string, ips: string[]): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app } },
  spec: { nodeName: node, containers: [{ name: 'c', ports: [{ containerPort: 8080 }] }] },
  status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
});

describe('IPv6 text and ranges', () => {
  it.each([
    ['fd00:10:96::a', 'fd00:10:96::a'],
    ['FD00:0010:0096:0000:0000:0000:0000:000A', 'fd00:10:96::a'],
    ['fd00:0:0:1:0:0:0:1', 'fd00:0:0:1::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
  ])('%s reads and prints as %s (RFC 5952)', (text, canonical) => {
    expect(formatIpv6(parseIpv6(text)!)).toBe(canonical);
  });

  it.each(['10.0.0.1', 'fd00::1::2', 'fd00:1:2:3:4:5:6:7:8', 'fd00::g', 'fd00:12345::'])(
    'refuses %s',
    (text) => expect(parseIpv6(text)).toBeUndefined(),
  );

  it('tells whether an address lies in a CIDR of either family', () => {
    expect(inCidr('fd00:10:244:3::5', 'fd00:10:244::/56')).toBe(true);
    expect(inCidr('fd00:10:245::5', 'fd00:10:244::/56')).toBe(false);
    expect(inCidr('10.244.3.5', 'fd00:10:244::/56')).toBe(false);
    expect(inCidr('fd00:10:244:3::5', '10.244.0.0/16')).toBe(false);
    expect(inCidr('10.244.3.5', '10.244.0.0/16')).toBe(true);
  });
});

describe('serviceFamilies: as the API server assigns them', () => {
  const cases = [
    { cluster: dual, spec: {}, want: ['IPv4'], policy: 'SingleStack' },
    { cluster: dual, spec: { ipFamilies: ['IPv6'] }, want: ['IPv6'], policy: 'SingleStack' },
    {
      cluster: dual,
      spec: { ipFamilyPolicy: 'PreferDualStack' },
      want: ['IPv4', 'IPv6'],
      policy: 'PreferDualStack',
    },
    {
      cluster: dual,
      spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6'] },
      want: ['IPv6', 'IPv4'],
      policy: 'RequireDualStack',
    },
    { cluster: dual, spec: { clusterIP: 'fd00:10:96::20' }, want: ['IPv6'], policy: 'SingleStack' },
    {
      cluster: v4only,
      spec: { ipFamilyPolicy: 'PreferDualStack' },
      want: ['IPv4'],
      policy: 'PreferDualStack',
    },
    { cluster: v6only, spec: {}, want: ['IPv6'], policy: 'SingleStack' },
  ];
  it.each(cases)('$spec on $cluster.ipFamilies → $want', ({ cluster, spec, want, policy }) => {
    const r = serviceFamilies(cluster.ipFamilies ?? ['IPv4'], svc('s', spec));
    expect(r).toEqual({ families: want, policy, problems: [] });
  });

  it.each([
    {
      cluster: v4only,
      spec: { ipFamilyPolicy: 'RequireDualStack' },
      path: 'spec.ipFamilyPolicy',
      message: /RequireDualStack needs a dual-stack cluster; this cluster is IPv4 only/,
    },
    {
      cluster: v4only,
      spec: { ipFamilies: ['IPv6'] },
      path: 'spec.ipFamilies[0]',
      message: /IPv6 is not configured on this cluster/,
    },
    {
      cluster: v6only,
      spec: { clusterIP: '10.96.0.20' },
      path: 'spec.clusterIP',
      message: /10.96.0.20 is IPv4, not configured/,
    },
    {
      cluster: dual,
      spec: { ipFamilies: ['IPv4', 'IPv6'] },
      path: 'spec.ipFamilies',
      message: /SingleStack takes one family/,
    },
    {
      cluster: dual,
      spec: { ipFamilyPolicy: 'DualPlease' },
      path: 'spec.ipFamilyPolicy',
      message: /want SingleStack, PreferDualStack, RequireDualStack/,
    },
  ])('refuses $spec naming $path', ({ cluster, spec, path, message }) => {
    const r = serviceFamilies(cluster.ipFamilies ?? ['IPv4'], svc('s', spec));
    expect(r.problems.map(([p]) => p)).toContain(path);
    expect(r.problems.find(([p]) => p === path)![1]).toMatch(message);
  });
});

describe('allocateServices per family', () => {
  it('gives a PreferDualStack Service a ClusterIP of each family, primary first', () => {
    const r = allocateServices(
      dual,
      [],
      [
        svc('a', {}),
        svc('b', { ipFamilyPolicy: 'PreferDualStack' }),
        svc('c', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6'] }),
      ],
    );
    expect(r.problems).toEqual([]);
    expect(
      r.services.map((s) => [s.spec?.clusterIP, s.spec?.clusterIPs, s.spec?.ipFamilies]),
    ).toEqual([
      ['10.96.0.11', ['10.96.0.11'], ['IPv4']],
      ['10.96.0.12', ['10.96.0.12', 'fd00:10:96::b'], ['IPv4', 'IPv6']],
      ['fd00:10:96::c', ['fd00:10:96::c', '10.96.0.13'], ['IPv6', 'IPv4']],
    ]);
  });

  it('keeps IPv6 ClusterIPs across a re-apply, honours a requested one and refuses a taken one', () => {
    const first = allocateServices(dual, [], [svc('a', { ipFamilyPolicy: 'PreferDualStack' })]);
    const again = allocateServices(dual, first.services, [
      svc('a', { ipFamilyPolicy: 'PreferDualStack' }),
      svc('b', { clusterIPs: ['fd00:10:96:0::20'], ipFamilies: ['IPv6'] }),
      svc('c', { clusterIP: 'fd00:10:96::b' }),
      svc('d', { clusterIP: 'fd00:10:96::a' }),
      svc('e', { clusterIP: 'fd00:10:97::1' }),
    ]);
    expect(again.services[0]!.spec?.clusterIPs).toEqual(first.services[0]!.spec?.clusterIPs);
    expect(again.services[1]!.spec?.clusterIPs).toEqual(['fd00:10:96::20']);
    expect(again.problems.map((p) => [p.index, p.path, p.message])).toEqual([
      [2, 'spec.clusterIP', 'fd00:10:96::b is the ClusterIP of Service default/a'],
      [3, 'spec.clusterIP', 'fd00:10:96::a is the cluster DNS address'],
      [4, 'spec.clusterIP', 'fd00:10:97::1 is not in the service CIDR fd00:10:96::/112'],
    ]);
  });

  it('an IPv6-only cluster allocates from the IPv6 service CIDR', () => {
    const r = allocateServices(v6only, [], [svc('a', {})]);
    expect(r.services[0]!.spec).toMatchObject({
      clusterIP: 'fd00:10:96::b',
      clusterIPs: ['fd00:10:96::b'],
      ipFamilies: ['IPv6'],
      ipFamilyPolicy: 'SingleStack',
    });
  });

  it('podnet apply of RequireDualStack on an IPv4 cluster fails naming the field, nothing applied', () => {
    try {
      planApply(
        v4only,
        emptyClusterObjects(),
        manifestObjects([svc('a', { ipFamilyPolicy: 'RequireDualStack' })]),
      );
      expect.unreachable();
    } catch (e) {
      expect(ClusterError.isInstance(e) && e.code).toBe('INVALID_MANIFEST');
      expect((e as Error).message).toMatch(
        /spec\.ipFamilyPolicy: RequireDualStack needs a dual-stack cluster/,
      );
    }
  });
});

describe('objects of a dual-stack cluster', () => {
  const applied = planApply(
    dual,
    emptyClusterObjects(),
    manifestObjects([svc('web', { ipFamilyPolicy: 'PreferDualStack' }), svc('v4', {})]),
  );
  const pods = [
    pod('web-1', 'node1', 'web', ['10.244.1.2', 'fd00:10:244:1::2']),
    pod('web-2', 'node3', 'web', ['10.244.3.2', 'fd00:10:244:3::2']),
    pod('v4-1', 'node2', 'v4', ['10.244.2.2', 'fd00:10:244:2::2']),
  ];

  it('writes one EndpointSlice per family of a Service, as the EndpointSlice controller', () => {
    const slices = planEndpointSlices(applied.objects.services, pods);
    expect(
      slices.map((s) => [s.metadata?.name, s.addressType, s.endpoints.map((e) => e.addresses[0])]),
    ).toEqual([
      ['web-podnet', 'IPv4', ['10.244.1.2', '10.244.3.2']],
      ['web-podnet-ipv6', 'IPv6', ['fd00:10:244:1::2', 'fd00:10:244:3::2']],
      ['v4-podnet', 'IPv4', ['10.244.2.2']],
    ]);
  });

  it('gives Nodes a pod CIDR and an InternalIP per family', () => {
    const node3 = renderCluster(dual, emptyClusterObjects()).nodes[2]!;
    expect(node3.spec).toEqual({
      podCIDR: '10.244.3.0/24',
      podCIDRs: ['10.244.3.0/24', 'fd00:10:244:3::/64'],
    });
    expect(node3.status?.addresses).toEqual([
      { type: 'InternalIP', address: '172.30.1.13' },
      { type: 'InternalIP', address: 'fd00:30:1::13' },
      { type: 'Hostname', address: 'node3' },
    ]);
  });

  it('explains an IPv6 flow: AAAA answer, ip6 DNAT, the v6 pod CIDR over the IPv4 underlay', () => {
    const client = pod('client', 'node1', 'client', ['10.244.1.3', 'fd00:10:244:1::3']);
    const objects = { ...applied.objects, pods: [...pods, client] };
    const ctx = {
      plan: dual,
      objects,
      search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
      ndots: 5,
    };
    const e = explainFlow(ctx, { from: 'client', to: 'web', port: 80, protocol: 'TCP', family: 6 });
    const lines = e.steps.map((s) => `${s.kind} ${s.detail}`);
    expect(e.verdict).toBe('allow');
    expect(lines[0]).toBe('source pod default/client fd00:10:244:1::3 on node1');
    expect(lines[1]).toBe('dns web.default.svc.cluster.local AAAA fd00:10:96::b (from 10.96.0.10)');
    expect(lines[2]).toMatch(
      /^service Service default\/web port \[fd00:10:96::b\]:80\/TCP: DNAT to one of \[fd00:10:244:1::2\]:8080, \[fd00:10:244:3::2\]:8080/,
    );
    expect(lines[3]).toBe(
      'route fd00:10:244:1::2: local on node1: pod default/web-1 behind its veth',
    );
    expect(lines[4]).toMatch(
      /^route fd00:10:244:3::2: node1 → node3 \(pod CIDR fd00:10:244:3::\/64\): VXLAN, .* node IP 172\.30\.1\.13/,
    );
    // an IPv6 address as the destination picks the family by itself
    const direct = explainFlow(ctx, {
      from: 'client',
      to: 'fd00:10:244:3::2',
      port: 8080,
      protocol: 'TCP',
    });
    expect(direct.steps.map((s) => s.kind)).toEqual(['source', 'route', 'policy']);
    expect(direct.steps[0]!.detail).toContain('fd00:10:244:1::3');
  });

  it('explains an IPv6 ipBlock: the client allowed over IPv6, denied over IPv4', () => {
    const client = pod('client', 'node2', 'client', ['10.244.2.3', 'fd00:10:244:2::3']);
    const policy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'web-v6', namespace: 'default' },
      spec: {
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ ipBlock: { cidr: 'fd00:10:244:2::/64' } }] }],
      },
    };
    const objects = {
      ...applied.objects,
      pods: [...pods, client],
      networkPolicies: [policy as never],
    };
    const ctx = { plan: dual, objects, search: [], ndots: 1 };
    const flow = { from: 'client', to: 'web-1', port: 8080, protocol: 'TCP' as const };
    const v6 = explainFlow(ctx, { ...flow, family: 6 });
    const v4 = explainFlow(ctx, { ...flow, family: 4 });
    expect([v6.verdict, v4.verdict]).toEqual(['allow', 'deny']);
    expect(v6.steps.at(-1)!.detail).toMatch(/^\[fd00:10:244:1::2\]:8080 allow/);
    expect(v4.steps.at(-1)!.detail).toMatch(/^10\.244\.1\.2:8080 deny/);
  });
});
