import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CniOutcome, startOneNode, type TestNode } from './node-kit.js';

function ipOf(r: CniOutcome): string {
  const ips = (r.json as { ips?: { address: string }[] } | undefined)?.ips;
  if (r.code !== 0 || !ips?.[0]) throw new Error(`ADD failed: ${r.stdout}${r.stderr}`);
  return ips[0].address.split('/')[0]!;
}

const SERVER = (name: string) =>
  `const net=require('net');net.createServer(s=>{s.on('error',()=>{});s.end('${name}\\n');}).listen(80,'0.0.0.0');`;

describe('agent programs host ports, Services, DNS and NetworkPolicy', () => {
  let net: TestNet;
  let node: TestNode;
  let underlay: string;
  let pa: string;
  let pb: string;
  let ipA: string;
  let ipB: string;

  const tcpRead = async (ns: string, ip: string, port: number) => {
    const r = await net.exec(
      ns,
      ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}; cat <&3`],
      {
        allowFail: true,
      },
    );
    return r.code === 0 ? r.stdout.trim() : undefined;
  };

  const writeManifests = (withPolicy: boolean) => {
    const docs = [
      {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'n1' },
        spec: { podCIDRs: ['10.244.5.0/24'] },
        status: { addresses: [{ type: 'InternalIP', address: '192.168.55.2' }] },
      },
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'shop', labels: { 'kubernetes.io/metadata.name': 'shop' } },
      },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
        spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] },
        status: { podIP: ipA, podIPs: [{ ip: ipA }] },
      },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client', namespace: 'shop', labels: { app: 'client' } },
        spec: { nodeName: 'n1', containers: [{ name: 'c' }] },
        status: { podIP: ipB, podIPs: [{ ip: ipB }] },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'shop' },
        spec: {
          clusterIP: '10.96.0.50',
          clusterIPs: ['10.96.0.50'],
          type: 'NodePort',
          selector: { app: 'web' },
          ports: [{ name: 'http', port: 8000, targetPort: 80, nodePort: 30080, protocol: 'TCP' }],
        },
      },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: 'web-1',
          namespace: 'shop',
          labels: { 'kubernetes.io/service-name': 'web' },
        },
        addressType: 'IPv4',
        endpoints: [{ addresses: [ipA], conditions: { ready: true }, nodeName: 'n1' }],
        ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      },
      ...(withPolicy
        ? [
            {
              apiVersion: 'networking.k8s.io/v1',
              kind: 'NetworkPolicy',
              metadata: { name: 'deny-web', namespace: 'shop' },
              spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] },
            },
          ]
        : []),
    ];
    writeFileSync(
      join(node.manifestsDir, 'cluster.yaml'),
      docs.map((d) => JSON.stringify(d)).join('\n---\n'),
    );
  };

  beforeAll(async () => {
    net = createTestNet();
    ({ node, underlay } = await startOneNode(net, '192.168.55', {
      podCidrs: ['10.244.5.0/24'],
      // the agent serves DNS itself here (the kind image's mode); other suites run podnet-dns
      dns: { ip: '169.254.20.10', clusterDomain: 'cluster.local', mode: 'embedded' },
    }));
    pa = await net.ns('pa');
    pb = await net.ns('pb');
    ipA = ipOf(
      await node.cni('ADD', 'svc-a', `/run/netns/${pa}`, {
        args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web',
        extra: {
          runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
        },
      }),
    );
    ipB = ipOf(
      await node.cni('ADD', 'svc-b', `/run/netns/${pb}`, {
        args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=client',
      }),
    );
    net.spawn(pa, ['node', '-e', SERVER('web')]);
    await net.waitForTcp(pb, ipA, 80, 20_000);
    writeManifests(false);
  });
  afterAll(async () => {
    node?.cleanup();
    await net.cleanup();
  });

  it('forwards a host port on the node address to the pod', async () => {
    expect(await tcpRead(underlay, '192.168.55.2', 8080)).toBe('web');
  });

  it('balances a ClusterIP to its endpoint', async () => {
    await waitFor(async () => (await tcpRead(pb, '10.96.0.50', 8000)) === 'web', {
      timeoutMs: 20_000,
      what: 'ClusterIP 10.96.0.50:8000',
    });
  });

  it('answers the NodePort on the node address from outside the node', async () => {
    await waitFor(async () => (await tcpRead(underlay, '192.168.55.2', 30080)) === 'web', {
      timeoutMs: 20_000,
      what: 'NodePort 30080',
    });
  });

  it('lets a pod reach itself through its own Service (hairpin)', async () => {
    expect(await tcpRead(pa, '10.96.0.50', 8000)).toBe('web');
  });

  it('answers cluster DNS on the node-local address the pods were given', async () => {
    const dig = async () =>
      (
        await net.exec(
          pb,
          ['dig', '+short', '+time=1', '+tries=1', '@169.254.20.10', 'web.shop.svc.cluster.local'],
          { allowFail: true },
        )
      ).stdout.trim();
    await waitFor(async () => (await dig()) === '10.96.0.50', {
      timeoutMs: 20_000,
      what: 'DNS answer',
    });
  });

  it('enforces a NetworkPolicy that isolates the web pod, and lifts it again', async () => {
    writeManifests(true);
    await waitFor(async () => (await tcpRead(pb, ipA, 80)) === undefined, {
      timeoutMs: 20_000,
      what: 'policy to block',
    });
    expect(await tcpRead(pb, '10.96.0.50', 8000)).toBeUndefined();
    writeManifests(false);
    await waitFor(async () => (await tcpRead(pb, ipA, 80)) === 'web', {
      timeoutMs: 20_000,
      what: 'policy removal',
    });
  });

  it('serves health, readiness and metrics', async () => {
    const port = Number(/"httpPort":(\d+)/.exec(node.logs)?.[1]);
    const get = async (path: string) =>
      (
        await net.exec(node.ns, [
          'bash',
          '-c',
          `exec 3<>/dev/tcp/127.0.0.1/${port}; printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3`,
        ])
      ).stdout;
    expect(await get('/healthz')).toContain('200 OK');
    let last = '';
    await waitFor(async () => (last = await get('/readyz')).includes('200 OK'), {
      what: 'readyz',
    }).catch((e) => {
      throw new Error(`${(e as Error).message}: ${last}\n${node.logs.slice(-2000)}`);
    });
    const metrics = await get('/metrics');
    expect(metrics).toMatch(/podnet_cni_requests_total\{command="ADD",result="success"\} 2/);
    expect(metrics).toContain('podnet_attachments 2');
  });
});
