import { describe, expect, it } from 'vitest';
import {
  attachmentResult,
  dnsSearch,
  hostVethName,
  parsePortMappings,
  planNodeBase,
  planPodLinks,
  planPodVeth,
  podMac,
  renderAgentNft,
  renderConflist,
  type PodAddress,
} from '../src/index.js';

const v4: PodAddress = {
  address: '10.244.1.5/24',
  ip: '10.244.1.5',
  gateway: '10.244.1.1',
  family: 4,
};
const v6: PodAddress = { address: 'fd00::5/64', ip: 'fd00::5', gateway: 'fd00::1', family: 6 };

describe('pure planners', () => {
  it('names host veths stably, 13 characters, distinct per attachment', () => {
    const a = hostVethName('abc', 'eth0');
    expect(a).toMatch(/^pn[0-9a-f]{11}$/);
    expect(hostVethName('abc', 'eth0')).toBe(a);
    expect(hostVethName('abc', 'eth1')).not.toBe(a);
    const many = new Set(Array.from({ length: 2000 }, (_, i) => hostVethName(`c${i}`, 'eth0')));
    expect(many.size).toBe(2000);
  });

  it('derives a locally administered MAC from the IPv4 address', () => {
    expect(podMac([v4], 'x')).toBe('0a:58:0a:f4:01:05');
    expect(podMac([v6], 'x')).toMatch(/^0a:58(:[0-9a-f]{2}){4}$/);
  });

  it('plans a routed dual-stack pod link', () => {
    const plan = planPodLinks({
      ifName: 'eth0',
      hostIf: 'pnabc',
      podMac: '0a:58:0a:f4:01:05',
      mtu: 1450,
      addresses: [v4, v6],
      nodePid: 42,
    });
    expect(plan).toMatchSnapshot();
    expect(plan.pod[0]).toContain('netns');
    expect(plan.node).toContainEqual([
      'route',
      'replace',
      '10.244.1.5/32',
      'dev',
      'pnabc',
      'scope',
      'link',
    ]);
  });

  it('creates the veth from the node side into a named namespace, then configures both ends', () => {
    expect(
      planPodVeth({ ifName: 'eth0', hostIf: 'pnabc', mtu: 1450, podNetnsName: 'cni-1' }),
    ).toEqual([
      ...['link', 'add', 'pnabc', 'address', 'ee:ee:ee:ee:ee:ee', 'mtu', '1450', 'up'],
      ...['type', 'veth', 'peer', 'name', 'eth0', 'mtu', '1450', 'netns', 'cni-1'],
    ]);
    const plan = planPodLinks({
      ifName: 'eth0',
      hostIf: 'pnabc',
      podMac: '0a:58:0a:f4:01:05',
      mtu: 1450,
      addresses: [v4],
      nodePid: 42,
      podNetnsName: 'cni-1',
    });
    expect(plan.order).toBe('node-first');
    expect(plan.node).toEqual([
      ['route', 'replace', '10.244.1.5/32', 'dev', 'pnabc', 'scope', 'link'],
    ]);
    expect(plan.pod).toEqual([
      ['link', 'set', 'eth0', 'address', '0a:58:0a:f4:01:05'],
      ['addr', 'add', '10.244.1.5/24', 'dev', 'eth0', 'noprefixroute'],
      ['link', 'set', 'eth0', 'up'],
      ['route', 'add', '10.244.1.1/32', 'dev', 'eth0', 'scope', 'link'],
      ['route', 'add', 'default', 'via', '10.244.1.1', 'dev', 'eth0'],
    ]);
  });

  it('plans the gateway device idempotently', () => {
    expect(
      planNodeBase({ gateways: ['10.244.1.1'], dnsIp: '169.254.20.10', deviceExists: true }),
    ).toEqual([
      ['addr', 'replace', '10.244.1.1/32', 'dev', 'podnet0'],
      ['addr', 'replace', '169.254.20.10/32', 'dev', 'podnet0'],
      ['link', 'set', 'podnet0', 'up'],
    ]);
    expect(planNodeBase({ gateways: [], dnsIp: '10.0.0.10', deviceExists: false })[0]).toEqual([
      'link',
      'add',
      'podnet0',
      'type',
      'bridge',
    ]);
  });

  it('renders the nftables table as one replacing transaction', () => {
    const text = renderAgentNft({
      podCidrs: ['10.244.1.0/24'],
      clusterCidrs: ['10.244.0.0/16'],
      hostPorts: [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp', podIp: '10.244.1.5' },
        {
          hostPort: 53,
          containerPort: 53,
          protocol: 'udp',
          podIp: '10.244.1.6',
          hostIP: '192.168.1.10',
        },
      ],
    });
    expect(text.split('\n').slice(0, 2)).toEqual([
      'table inet podnet-agent {}',
      'delete table inet podnet-agent',
    ]);
    expect(text).toContain('tcp dport 8080 dnat ip to 10.244.1.5:80');
    expect(text).toContain('ip daddr 192.168.1.10 udp dport 53 dnat ip to 10.244.1.6:53');
    expect(text).toContain(
      'ip saddr { 10.244.1.0/24 } ip daddr != { 10.244.0.0/16 } fib daddr type != local masquerade',
    );
    expect(text).toMatchSnapshot();
  });

  it('builds the DNS search list and the conflist', () => {
    expect(dnsSearch('shop', 'cluster.local')).toEqual([
      'shop.svc.cluster.local',
      'svc.cluster.local',
      'cluster.local',
    ]);
    expect(dnsSearch(undefined, 'c.l')).toEqual(['svc.c.l', 'c.l']);
    expect(JSON.parse(renderConflist('/run/podnet.sock'))).toEqual({
      cniVersion: '1.1.0',
      name: 'podnet',
      plugins: [
        { type: 'podnet', socket: '/run/podnet.sock', capabilities: { portMappings: true } },
      ],
    });
  });

  it('parses portMappings per pod address family, naming bad fields', () => {
    expect(
      parsePortMappings([{ hostPort: 8080, containerPort: 80, protocol: 'TCP' }], [v4, v6]),
    ).toEqual([
      { hostPort: 8080, containerPort: 80, protocol: 'tcp', podIp: '10.244.1.5' },
      { hostPort: 8080, containerPort: 80, protocol: 'tcp', podIp: 'fd00::5' },
    ]);
    expect(
      parsePortMappings([{ hostPort: 1, containerPort: 2, hostIP: '192.168.1.1' }], [v4, v6]),
    ).toHaveLength(1);
    expect(() => parsePortMappings([{ hostPort: 0, containerPort: 80 }], [v4])).toThrow(
      /portMappings\[0\]\.hostPort/,
    );
    expect(() =>
      parsePortMappings([{ hostPort: 1, containerPort: 80, protocol: 'icmp' }], [v4]),
    ).toThrow(/protocol/);
    expect(() => parsePortMappings({}, [v4])).toThrow(/want an array/);
  });

  it('renders an attachment as a CNI 1.1 result', () => {
    const r = attachmentResult(
      {
        containerId: 'c',
        ifName: 'eth0',
        netns: '/run/netns/p',
        hostIf: 'pnx',
        podMac: '0a:58:0a:f4:01:05',
        mtu: 1450,
        addresses: [v4],
        hostPorts: [],
        podNamespace: 'ns1',
        phase: 'ready',
      },
      { ip: '169.254.20.10', clusterDomain: 'cluster.local' },
    );
    expect(r.ips).toEqual([{ address: '10.244.1.5/24', gateway: '10.244.1.1', interface: 1 }]);
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.244.1.1' }]);
    expect(r.dns?.search?.[0]).toBe('ns1.svc.cluster.local');
  });
});
