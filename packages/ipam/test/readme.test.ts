import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  Allocator,
  FileNodeSubnetStore,
  FileStore,
  IpamError,
  MemoryStore,
  NodeSubnetAllocator,
  parseIpamConfig,
} from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'podnet-ipam-readme-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('the README library example runs as written', async () => {
  const config = parseIpamConfig({
    type: 'podnet-ipam',
    dataDir: root,
    ranges: [
      [{ subnet: '10.244.1.0/24', exclude: ['10.244.1.250/31'] }],
      [{ subnet: 'fd00:10:244:1::/64' }],
    ],
  });
  const allocator = new Allocator(config, FileStore.forNetwork('podnet', config.dataDir));
  expect(await allocator.allocate('3f2a9c', 'eth0')).toEqual([
    { rangeSetIndex: 0, address: '10.244.1.2/24', ip: '10.244.1.2', gateway: '10.244.1.1' },
    {
      rangeSetIndex: 1,
      address: 'fd00:10:244:1::2/64',
      ip: 'fd00:10:244:1::2',
      gateway: 'fd00:10:244:1::1',
    },
  ]);
  await allocator.allocate('7b1d00', 'eth0', { requestedIps: ['10.244.1.77'] });
  await allocator.release('3f2a9c', 'eth0');
  const { released } = await allocator.gc([{ containerId: '7b1d00', ifName: 'eth0' }]);
  expect(released).toEqual([]);
  expect((await allocator.list()).map((a) => a.ip).sort()).toEqual([
    '10.244.1.77',
    'fd00:10:244:1::3',
  ]);
  const error = await new Allocator(config, new MemoryStore())
    .allocate('-bad', 'eth0')
    .catch((e: unknown) => e);
  expect(IpamError.isInstance(error) && [error.code, error.field]).toEqual([
    'INVALID_ARGUMENT',
    'containerId',
  ]);
});

it('the README node subnet example runs as written', async () => {
  const nodes = new NodeSubnetAllocator({
    clusterCidrs: ['10.244.0.0/16', 'fd00:10:244::/56'],
    nodeMaskV4: 24,
    nodeMaskV6: 64,
    store: new FileNodeSubnetStore(join(root, 'node-subnets.json')),
  });
  expect(await nodes.allocate('node-a')).toEqual(['10.244.0.0/24', 'fd00:10:244::/64']);
  expect(await nodes.release('node-a')).toEqual(['10.244.0.0/24', 'fd00:10:244::/64']);
});
