import { describe, expect, it } from 'vitest';
import {
  ClusterError,
  parseTarget,
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
