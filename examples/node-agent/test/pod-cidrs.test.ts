import { ClusterStore } from '@podnet/cluster-state';
import { describe, expect, it } from 'vitest';
import { parseAgentConfig, resolvePodCidrs } from '../src/index.js';
import { withDns } from './config-fixture.js';

const config = parseAgentConfig({ ...withDns({}), nodeName: 'n1' });

function storeWith(spec?: Record<string, unknown>): ClusterStore {
  const store = new ClusterStore();
  store.transaction((tx) => {
    tx.replace('Node', spec ? [{ metadata: { name: 'n1' }, spec }] : []);
  });
  return store;
}

describe('resolvePodCidrs', () => {
  it('takes the config first, then the Node object', () => {
    const store = storeWith({ podCIDRs: ['10.244.7.0/24'] });
    expect(resolvePodCidrs({ ...config, podCidrs: ['10.244.9.0/24'] }, store)).toEqual({
      cidrs: ['10.244.9.0/24'],
    });
    expect(resolvePodCidrs(config, store)).toEqual({ cidrs: ['10.244.7.0/24'] });
  });

  it('never picks a subnet itself: without either it says what to configure', () => {
    for (const store of [storeWith({}), storeWith()]) {
      const r = resolvePodCidrs(config, store);
      expect(r).toMatchObject({ synced: true });
      const waiting = (r as { waiting: string }).waiting;
      expect(waiting).toContain("set the Node's spec.podCIDRs");
      expect(waiting).toContain('--allocate-node-cidrs');
      expect(waiting).toContain('podCidrs in the agent config');
    }
    expect((resolvePodCidrs(config, storeWith({})) as { waiting: string }).waiting).toContain(
      'Node n1 has no spec.podCIDRs',
    );
    expect((resolvePodCidrs(config, storeWith()) as { waiting: string }).waiting).toContain(
      'there is no Node named n1',
    );
    // the same answer on every node of a cluster (no per-node store to fall back to)
    expect(resolvePodCidrs({ ...config, nodeName: 'n2' }, storeWith({}))).not.toHaveProperty(
      'cidrs',
    );
  });

  it('waits without a message to act on while the source has not listed', () => {
    expect(resolvePodCidrs(config, storeWith({}), false)).toEqual({
      waiting: 'waiting for the cluster source to list the Node',
      synced: false,
    });
    expect(resolvePodCidrs(config, undefined)).toMatchObject({ synced: false });
  });
});
