import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FileNodeSubnetStore,
  IpamError,
  MemoryNodeSubnetStore,
  NodeSubnetAllocator,
  pickNodeSubnet,
} from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'podnet-ipam-nodes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('pickNodeSubnet', () => {
  it('picks the lowest free aligned subnet around taken ones', () => {
    expect(pickNodeSubnet('10.244.0.0/16', 24, [])).toBe('10.244.0.0/24');
    expect(pickNodeSubnet('10.244.0.0/16', 24, ['10.244.0.0/24', '10.244.2.0/24'])).toBe(
      '10.244.1.0/24',
    );
    expect(pickNodeSubnet('10.244.0.0/16', 24, ['10.244.0.0/23', '10.244.2.128/25'])).toBe(
      '10.244.3.0/24',
    );
    expect(pickNodeSubnet('10.244.0.0/23', 24, ['10.244.0.0/24', '10.244.1.0/24'])).toBeUndefined();
    expect(pickNodeSubnet('fd00:10:244::/56', 64, ['fd00:10:244::/64'])).toBe('fd00:10:244:1::/64');
  });
});

describe('NodeSubnetAllocator', () => {
  it('hands out dual-stack per-node CIDRs, idempotently, and reuses released ones', async () => {
    const alloc = new NodeSubnetAllocator({
      clusterCidrs: ['10.244.0.0/16', 'fd00:10:244::/56'],
      store: new MemoryNodeSubnetStore(),
    });
    expect(await alloc.allocate('a')).toEqual(['10.244.0.0/24', 'fd00:10:244::/64']);
    expect(await alloc.allocate('b')).toEqual(['10.244.1.0/24', 'fd00:10:244:1::/64']);
    expect(await alloc.allocate('a')).toEqual(['10.244.0.0/24', 'fd00:10:244::/64']);
    expect(await alloc.release('a')).toEqual(['10.244.0.0/24', 'fd00:10:244::/64']);
    expect(await alloc.release('a')).toEqual([]);
    expect(await alloc.allocate('c')).toEqual(['10.244.0.0/24', 'fd00:10:244::/64']);
  });

  it('fails clearly on exhaustion and allocates nothing', async () => {
    const alloc = new NodeSubnetAllocator({
      clusterCidrs: ['10.0.0.0/24'],
      nodeMaskV4: 25,
      store: new MemoryNodeSubnetStore(),
    });
    await alloc.allocate('a');
    await alloc.allocate('b');
    const error = await alloc.allocate('c').catch((e: unknown) => e);
    expect(IpamError.isInstance(error) && error.code).toBe('EXHAUSTED');
    expect((error as Error).message).toContain('10.0.0.0/24');
    expect(Object.keys(await alloc.list())).toEqual(['a', 'b']);
  });

  it('validates its options naming the field', () => {
    const store = new MemoryNodeSubnetStore();
    expect(() => new NodeSubnetAllocator({ clusterCidrs: ['10.0.0.0/99'], store })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', field: 'clusterCidrs[0]' }),
    );
    expect(
      () => new NodeSubnetAllocator({ clusterCidrs: ['10.0.0.0/16'], nodeMaskV4: 8, store }),
    ).toThrow(expect.objectContaining({ field: 'nodeMaskV4' }));
    expect(
      () => new NodeSubnetAllocator({ clusterCidrs: ['10.0.0.0/16', '10.1.0.0/16'], store }),
    ).toThrow(expect.objectContaining({ field: 'clusterCidrs[1]' }));
  });

  it('persists to a JSON file shared by two allocators', async () => {
    const path = join(root, 'state', 'nodes.json');
    const one = new NodeSubnetAllocator({
      clusterCidrs: ['10.244.0.0/16'],
      store: new FileNodeSubnetStore(path),
    });
    const two = new NodeSubnetAllocator({
      clusterCidrs: ['10.244.0.0/16'],
      store: new FileNodeSubnetStore(path),
    });
    const got = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).allocate(`n${i}`)),
    );
    expect(new Set(got.flat()).size).toBe(10);
    expect(JSON.parse(readFileSync(path, 'utf8')).nodes.n3).toEqual(got[3]);
    await two.release('n3');
    expect(Object.keys(await one.list())).toHaveLength(9);
  });
});
