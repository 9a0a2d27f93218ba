import { describe, expect, it } from 'vitest';
import {
  ClusterError,
  canonicalIp,
  clusterCidrsOf,
  dnsIpsOf,
  externalIpsOf,
  familyOfCidr,
  inCidr,
  nodeIpsOf,
  ofFamily,
  parseCommandLine,
  parseTarget,
  planFamilies,
  podCidrsOf,
  serviceCidrsOf,
  planCluster,
  planReferenceRoutes,
  planUnderlayBatches,
  referenceConflist,
  renderContainersConf,
} from '../src/index.js';

const base = { name: 'demo', prefix: 'pnc-demo-', nodes: 3, network: 'podnet' as const };

describe('planCluster', () => {
  it('puts the last of 3+ nodes on a second segment behind the router', () => {
    const plan = planCluster(base);
    expect(plan.nodes.map((n) => [n.name, n.netns, n.ip, n.gateway, n.podCidr])).toEqual([
      ['node1', 'pnc-demo-node1', '172.30.0.11', '172.30.0.1', '10.244.1.0/24'],
      ['node2', 'pnc-demo-node2', '172.30.0.12', '172.30.0.1', '10.244.2.0/24'],
      ['node3', 'pnc-demo-node3', '172.30.1.13', '172.30.1.1', '10.244.3.0/24'],
    ]);
    expect(plan.segments).toHaveLength(2);
    expect(planCluster({ ...base, nodes: 2 }).segments).toHaveLength(1);
  });

  it('rejects bad input naming the field', () => {
    const bad = (o: Partial<typeof base>, field: string) => {
      try {
        planCluster({ ...base, ...o } as typeof base);
        expect.unreachable();
      } catch (e) {
        expect(ClusterError.isInstance(e) && e.code).toBe('INVALID_ARGUMENT');
        expect((e as Error).message.startsWith(`${field}:`)).toBe(true);
      }
    };
    bad({ nodes: 0 }, 'nodes');
    bad({ nodes: 9 }, 'nodes');
    bad({ name: 'Bad_Name' }, 'name');
    bad({ prefix: '-x' }, 'prefix');
    bad({ network: 'flannel' as never }, 'network');
  });

  it('renders the underlay: bridges with gateways, node uplinks and default routes', () => {
    const b = planUnderlayBatches(planCluster(base));
    expect(b.switchLines).toContainEqual(['addr', 'add', '172.30.1.1/24', 'dev', 'br-b']);
    expect(b.switchLines).toContainEqual(['link', 'set', 'sw-node3', 'master', 'br-b']);
    expect(b.nodeLines.node1).toContainEqual(['route', 'replace', 'default', 'via', '172.30.0.1']);
    expect(b.externalLines).toContainEqual(['addr', 'add', '203.0.113.10/24', 'dev', 'eth0']);
  });

  it('routes reference pod CIDRs directly on a segment and through the router across', () => {
    const r = planReferenceRoutes(planCluster({ ...base, network: 'reference' }));
    expect(r.nodeLines.node1).toEqual([
      ['route', 'replace', '10.244.2.0/24', 'via', '172.30.0.12'],
      ['route', 'replace', '10.244.3.0/24', 'via', '172.30.0.1'],
    ]);
    expect(r.switchLines).toHaveLength(3);
  });

  it('builds a bridge + host-local conflist with the cluster DNS', () => {
    const plan = planCluster(base);
    const c = referenceConflist(plan, plan.nodes[1]!, '/tmp/ipam') as {
      plugins: {
        ipam: { ranges: unknown };
        dns: { nameservers: string[] };
        capabilities: unknown;
      }[];
    };
    expect(c.plugins[0]!.ipam.ranges).toEqual([
      [{ subnet: '10.244.2.0/24', gateway: '10.244.2.1' }],
    ]);
    expect(c.plugins[0]!.dns.nameservers).toEqual(['10.96.0.10']);
    expect(c.plugins[1]!.capabilities).toEqual({ portMappings: true });
  });
});

describe('parseTarget', () => {
  it('reads TO:PORT[/PROTO]', () => {
    expect(parseTarget('web:80')).toEqual({ to: 'web', port: 80, proto: 'tcp' });
    expect(parseTarget('10.0.0.1:53/UDP')).toEqual({ to: '10.0.0.1', port: 53, proto: 'udp' });
    expect(parseTarget('web.default.svc.cluster.local:8080/http').proto).toBe('http');
    expect(() => parseTarget('web')).toThrow(/target:/);
    expect(() => parseTarget('web:80/sctp')).toThrow(/target:/);
  });
});

describe('renderContainersConf', () => {
  it('points podman at the CNI backend, our conf and plugin dirs', () => {
    const text = renderContainersConf({
      dir: '/d',
      netnsPath: '/run/netns/n',
      confDir: '/c',
      pluginDirs: ['/a', '/b'],
    });
    expect(text).toContain('network_backend = "cni"');
    expect(text).toContain('cni_plugin_dirs = ["/a", "/b"]');
    expect(text).toContain('network_config_dir = "/c"');
    expect(text).toContain('cgroup_manager = "cgroupfs"');
  });
});

describe('planCluster per IP family', () => {
  const row = (n: ReturnType<typeof planCluster>['nodes'][number]) => [
    n.name,
    nodeIpsOf(n),
    n.gateways ?? [n.gateway],
    podCidrsOf(n),
  ];

  it('keeps an ipv4 plan as it was before dual stack (no per-family fields)', () => {
    const plan = planCluster({ ...base, ipFamily: 'ipv4' });
    expect(plan).toEqual(planCluster(base));
    expect(JSON.stringify(plan)).toBe(JSON.stringify(planCluster(base)));
    for (const key of ['ipFamilies', 'clusterCidrs', 'serviceCidrs', 'dnsIps', 'externalIps'])
      expect(Object.keys(plan)).not.toContain(key);
    expect(Object.keys(plan.nodes[0]!)).not.toContain('ips');
    expect(planFamilies(plan)).toEqual(['IPv4']);
  });

  it.each([
    {
      mode: 'ipv6' as const,
      families: ['IPv6'],
      nodes: [
        ['node1', ['fd00:30::11'], ['fd00:30::1'], ['fd00:10:244:1::/64']],
        ['node2', ['fd00:30::12'], ['fd00:30::1'], ['fd00:10:244:2::/64']],
        ['node3', ['fd00:30:1::13'], ['fd00:30:1::1'], ['fd00:10:244:3::/64']],
      ],
      cluster: ['fd00:10:244::/56'],
      services: ['fd00:10:96::/112'],
      dns: ['fd00:10:96::a'],
      external: ['fd00:113::10'],
    },
    {
      mode: 'dual' as const,
      families: ['IPv4', 'IPv6'],
      nodes: [
        [
          'node1',
          ['172.30.0.11', 'fd00:30::11'],
          ['172.30.0.1', 'fd00:30::1'],
          ['10.244.1.0/24', 'fd00:10:244:1::/64'],
        ],
        [
          'node2',
          ['172.30.0.12', 'fd00:30::12'],
          ['172.30.0.1', 'fd00:30::1'],
          ['10.244.2.0/24', 'fd00:10:244:2::/64'],
        ],
        [
          'node3',
          ['172.30.1.13', 'fd00:30:1::13'],
          ['172.30.1.1', 'fd00:30:1::1'],
          ['10.244.3.0/24', 'fd00:10:244:3::/64'],
        ],
      ],
      cluster: ['10.244.0.0/16', 'fd00:10:244::/56'],
      services: ['10.96.0.0/16', 'fd00:10:96::/112'],
      dns: ['10.96.0.10', 'fd00:10:96::a'],
      external: ['203.0.113.10', 'fd00:113::10'],
    },
  ])('$mode: addresses per family, primary first', (t) => {
    const plan = planCluster({ ...base, ipFamily: t.mode });
    expect(planFamilies(plan)).toEqual(t.families);
    expect(plan.nodes.map(row)).toEqual(t.nodes);
    expect(clusterCidrsOf(plan)).toEqual(t.cluster);
    expect(serviceCidrsOf(plan)).toEqual(t.services);
    expect(dnsIpsOf(plan)).toEqual(t.dns);
    expect(externalIpsOf(plan)).toEqual(t.external);
    // the scalars are the primary family's
    expect(plan.nodes[0]!.ip).toBe(t.nodes[0]![1]![0]);
    expect(plan.serviceCidr).toBe(t.services[0]);
    // every pod CIDR lies in the cluster CIDR of its family, every address is canonical
    for (const n of plan.nodes)
      for (const c of podCidrsOf(n)) {
        const fam = familyOfCidr(c)!;
        expect(inCidr(c.split('/')[0]!, ofFamily(clusterCidrsOf(plan), fam)!)).toBe(true);
      }
    for (const ip of [...plan.nodes.flatMap(nodeIpsOf), ...dnsIpsOf(plan)])
      expect(canonicalIp(ip)).toBe(ip);
    expect(inCidr(dnsIpsOf(plan).at(-1)!, serviceCidrsOf(plan).at(-1)!)).toBe(true);
  });

  it('renders IPv6 underlay addresses without DAD and a default route per family', () => {
    const b = planUnderlayBatches(planCluster({ ...base, ipFamily: 'dual' }));
    expect(b.switchLines).toContainEqual(['addr', 'add', '172.30.1.1/24', 'dev', 'br-b']);
    expect(b.switchLines).toContainEqual([
      ...['addr', 'add', 'fd00:30:1::1/64', 'dev', 'br-b', 'nodad'],
    ]);
    expect(b.switchLines).toContainEqual([
      'addr',
      'add',
      'fd00:113::1/64',
      'dev',
      'sw-ext',
      'nodad',
    ]);
    expect(b.nodeLines.node3).toEqual([
      ['link', 'set', 'lo', 'up'],
      ['addr', 'add', '172.30.1.13/24', 'dev', 'eth0'],
      ['addr', 'add', 'fd00:30:1::13/64', 'dev', 'eth0', 'nodad'],
      ['link', 'set', 'eth0', 'up'],
      ['route', 'replace', 'default', 'via', '172.30.1.1'],
      ['route', 'replace', 'default', 'via', 'fd00:30:1::1'],
    ]);
    expect(b.externalLines).toContainEqual([
      ...['addr', 'add', 'fd00:113::10/64', 'dev', 'eth0', 'nodad'],
    ]);
  });

  it('rejects an unknown family and IPv6 on the reference network, naming the field', () => {
    expect(() => planCluster({ ...base, ipFamily: 'ipv5' as never })).toThrow(/^ipFamily: want/);
    expect(() => planCluster({ ...base, network: 'reference', ipFamily: 'dual' })).toThrow(
      /^ipFamily: network reference is IPv4 only/,
    );
  });
});

describe('parseTarget with IPv6', () => {
  it('takes an IPv6 address in brackets and refuses one without', () => {
    expect(parseTarget('[fd00:10:244:2::5]:80')).toEqual({
      to: 'fd00:10:244:2::5',
      port: 80,
      proto: 'tcp',
    });
    expect(parseTarget('[fd00:10:96::b]:53/udp').proto).toBe('udp');
    expect(() => parseTarget('fd00::5:80')).toThrow(/in brackets/);
  });
});

describe('the command line of dual stack', () => {
  it('reads up --ip-family and probe/explain -6/-4, naming a bad value', () => {
    expect(parseCommandLine(['up', '--ip-family', 'dual']).command).toEqual({
      cmd: 'up',
      nodes: 3,
      ipFamily: 'dual',
    });
    expect(parseCommandLine(['up']).command).toEqual({ cmd: 'up', nodes: 3 });
    expect(() => parseCommandLine(['up', '--ip-family', 'ipv5'])).toThrow(
      /^--ip-family: want ipv4, ipv6, dual, got ipv5/,
    );
    expect(parseCommandLine(['probe', 'client', 'web:80', '-6']).command).toEqual({
      cmd: 'probe',
      from: 'client',
      target: { to: 'web', port: 80, proto: 'tcp', family: 6 },
    });
    expect(parseCommandLine(['explain', 'client', '[fd00::5]:80/udp']).command).toEqual({
      cmd: 'explain',
      from: 'client',
      target: { to: 'fd00::5', port: 80, proto: 'udp' },
    });
    expect(() => parseCommandLine(['probe', 'client', 'web:80', '-4', '-6'])).toThrow(
      /-4 or -6, not both/,
    );
  });
});
