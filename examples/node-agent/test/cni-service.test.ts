import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleInvocation } from '@podnet/cni-spec';
import { Host } from '@podnet/host';
import { RecordingRunner } from '@podnet/host/testing';
import { Allocator, MemoryStore, parseRangeSets } from '@podnet/ipam';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AttachmentStore,
  CniService,
  createLogger,
  decodeShimRequest,
  hostVethName,
  renderMetrics,
} from '../src/index.js';

const NETNS = '/proc/self/ns/net';

describe('CniService with a recording runner and a memory IPAM store', () => {
  let dir: string;
  let runner: RecordingRunner;
  let service: CniService;
  let hostPortSyncs = 0;
  let ready = true;
  let ipam: Allocator;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'podnet-cni-svc-'));
    runner = new RecordingRunner();
    const allocator = new Allocator(
      { rangeSets: parseRangeSets([[{ subnet: '10.244.9.0/24' }]]) },
      new MemoryStore(),
    );
    ipam = allocator;
    hostPortSyncs = 0;
    ready = true;
    service = new CniService({
      host: new Host({ runner }),
      attachments: new AttachmentStore(join(dir, 'att')),
      log: createLogger({ write: () => {} }),
      dns: { ip: '169.254.20.10', clusterDomain: 'cluster.local' },
      network: () => (ready ? { podCidrs: ['10.244.9.0/24'], allocator, mtu: 1450 } : undefined),
      hostPortsChanged: async () => {
        hostPortSyncs++;
      },
      nodePid: 4242,
    });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const call = (
    command: string,
    id: string,
    extra: Record<string, unknown> = {},
    cniVersion = '1.1.0',
  ) =>
    handleInvocation(
      {
        env: {
          CNI_COMMAND: command,
          CNI_CONTAINERID: id,
          CNI_NETNS: command === 'GC' || command === 'STATUS' ? '' : NETNS,
          CNI_IFNAME: command === 'GC' || command === 'STATUS' ? '' : 'eth0',
          CNI_PATH: '/opt/cni/bin',
          CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web',
        },
        stdin: JSON.stringify({
          cniVersion,
          name: 'podnet',
          type: 'podnet',
          socket: '/x.sock',
          ...extra,
        }),
      },
      service.handlers(),
    );

  it('ADD plans one batch in the pod namespace and one on the node, then returns the result', async () => {
    const out = await call('ADD', 'c1', {
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    });
    expect(out.exitCode, out.stdout).toBe(0);
    const result = JSON.parse(out.stdout);
    expect(result.ips).toEqual([{ address: '10.244.9.2/24', gateway: '10.244.9.1', interface: 1 }]);
    expect(result.dns.search[0]).toBe('shop.svc.cluster.local');
    const veth = hostVethName('c1', 'eth0');
    expect(runner.commands).toEqual(['ip -batch -', 'ip -batch -']);
    expect(runner.requests[0]!.netns).toEqual({ path: NETNS });
    expect(runner.requests[0]!.stdin).toContain(
      `peer name ${veth} address ee:ee:ee:ee:ee:ee mtu 1450 netns 4242`,
    );
    expect(runner.requests[1]!.stdin).toContain(
      `route replace 10.244.9.2/32 dev ${veth} scope link`,
    );
    expect(hostPortSyncs).toBe(1);
  });

  it('undoes the reservation when wiring fails, and maps it to a CNI error', async () => {
    runner.respondTo(['ip', '-batch', '-'], { code: 2, stderr: 'RTNETLINK answers: File exists' });
    const out = await call('ADD', 'c2');
    expect(out.exitCode).toBe(1);
    expect(JSON.parse(out.stdout).details).toContain('File exists');
    runner.respondTo(['ip', '-batch', '-'], { code: 0 });
    const again = await call('ADD', 'c2');
    expect(again.exitCode, 'a leftover reservation would make this a duplicate allocation').toBe(0);
  });

  it('answers code 11 on ADD and 50 on STATUS while the node has no pod CIDR', async () => {
    ready = false;
    expect(JSON.parse((await call('ADD', 'c3')).stdout).code).toBe(11);
    expect(JSON.parse((await call('STATUS', '')).stdout).code).toBe(50);
    ready = true;
    expect((await call('STATUS', '')).exitCode).toBe(0);
  });

  it('DEL deletes the host veth, tolerates it missing, and is idempotent', async () => {
    await call('ADD', 'c4');
    runner.clear();
    runner.respondTo(['ip', 'link', 'del'], { code: 1, stderr: 'Cannot find device "pnx"' });
    expect((await call('DEL', 'c4')).exitCode).toBe(0);
    expect((await call('DEL', 'c4')).exitCode).toBe(0);
    expect(runner.commands).toEqual([
      `ip link del ${hostVethName('c4', 'eth0')}`,
      `ip link del ${hostVethName('c4', 'eth0')}`,
    ]);
    const re = await call('ADD', 'c5');
    expect(JSON.parse(re.stdout).ips[0].address).toBe('10.244.9.3/24');
  });

  it('DEL while the pod network is not set up yet (an agent starting) answers 11 and keeps the attachment, so its address is not leaked', async () => {
    expect((await call('ADD', 'c6')).exitCode).toBe(0);
    ready = false;
    const early = await call('DEL', 'c6');
    expect(early.exitCode).toBe(1);
    expect(JSON.parse(early.stdout).code).toBe(11);
    expect(await ipam.get('c6', 'eth0')).toHaveLength(1);
    // an attachment that was never made is still deleted without the network
    expect((await call('DEL', 'never-added')).exitCode).toBe(0);
    ready = true;
    expect((await call('DEL', 'c6')).exitCode).toBe(0);
    expect(await ipam.get('c6', 'eth0')).toEqual([]);
  });

  it('GC tears down what is not valid and reports failures without stopping', async () => {
    await call('ADD', 'keep');
    await call('ADD', 'drop');
    runner.clear();
    runner.respondTo(['ip', '-json', 'link', 'show', 'type', 'veth'], {
      stdout: JSON.stringify([
        { ifname: hostVethName('keep', 'eth0') },
        { ifname: 'pn00000000000' },
        { ifname: 'eth0' },
      ]),
    });
    const out = await call('GC', '', {
      'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }],
    });
    expect(out.exitCode, out.stdout).toBe(0);
    expect(runner.commands).toContain(`ip link del ${hostVethName('drop', 'eth0')}`);
    expect(runner.commands).toContain('ip link del pn00000000000');
    expect(runner.commands).not.toContain(`ip link del ${hostVethName('keep', 'eth0')}`);
  });
});

describe('agent wire helpers', () => {
  it('decodes shim requests, dropping non-CNI variables', () => {
    expect(
      decodeShimRequest('{"v":1,"env":{"CNI_COMMAND":"ADD","HOME":"/root"},"stdin":"{}"}'),
    ).toEqual({
      env: { CNI_COMMAND: 'ADD' },
      stdin: '{}',
    });
    expect(() => decodeShimRequest('{"v":9,"env":{},"stdin":""}')).toThrow('request.v');
    expect(() => decodeShimRequest('{"v":1,"env":{"CNI_X":2},"stdin":""}')).toThrow(
      'request.env.CNI_X',
    );
  });

  it('renders Prometheus text with escaped labels', () => {
    expect(
      renderMetrics([
        {
          name: 'x_total',
          help: 'X.',
          type: 'counter',
          samples: [{ labels: { a: 'q"\\\n' }, value: 3 }],
        },
      ]),
    ).toBe('# HELP x_total X.\n# TYPE x_total counter\nx_total{a="q\\"\\\\\\n"} 3\n');
  });
});
