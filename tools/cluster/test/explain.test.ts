import { describe, expect, it } from 'vitest';
import { type ControlPlaneState, explainFlow, planCluster } from '../src/index.js';

const plan = planCluster({ name: 't', prefix: 'pnc-t-', nodes: 3, network: 'podnet' });
const state: ControlPlaneState = {
  namespaces: [],
  pods: [
    {
      namespace: 'default',
      name: 'client',
      labels: { role: 'client' },
      nodeName: 'node1',
      ports: [],
      ip: '10.244.1.2',
    },
    {
      namespace: 'default',
      name: 'web-1',
      labels: { app: 'web' },
      nodeName: 'node1',
      ports: [{ containerPort: 8080, protocol: 'TCP' }],
      ip: '10.244.1.3',
    },
    {
      namespace: 'default',
      name: 'web-2',
      labels: { app: 'web' },
      nodeName: 'node3',
      ports: [{ containerPort: 8080, protocol: 'TCP' }],
      ip: '10.244.3.2',
    },
    {
      namespace: 'default',
      name: 'other',
      labels: {},
      nodeName: 'node2',
      ports: [],
      ip: '10.244.2.2',
    },
  ],
  services: [
    {
      namespace: 'default',
      name: 'web',
      type: 'NodePort',
      selector: { app: 'web' },
      clusterIP: '10.96.0.11',
      ports: [{ port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 }],
    },
  ],
  networkPolicies: [
    {
      kind: 'NetworkPolicy',
      metadata: { name: 'web-from-client', namespace: 'default' },
      spec: {
        podSelector: { matchLabels: { app: 'web' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }],
      },
    },
  ],
};
const ctx = {
  plan,
  state,
  search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
  ndots: 5,
};

describe('explainFlow', () => {
  it('follows a short name through the search path, the DNAT, the routes and the policy', () => {
    const e = explainFlow(ctx, { from: 'client', to: 'web', port: 80, protocol: 'TCP' });
    expect(e.verdict).toBe('allow');
    expect(e.steps.map((s) => s.kind)).toEqual([
      'source',
      'dns',
      'service',
      'route',
      'route',
      'policy',
      'policy',
    ]);
    expect(e.steps[1]!.detail).toBe('web.default.svc.cluster.local A 10.96.0.11 (from 10.96.0.10)');
    expect(e.steps[2]!.detail).toContain('DNAT to one of 10.244.1.3:8080, 10.244.3.2:8080');
    expect(e.steps[3]!.detail).toContain('local on node1');
    expect(e.steps[4]!.detail).toContain('node1 → node3 (172.30.1.13, across the router)');
  });

  it('denies a pod the policy does not admit and names the policy', () => {
    const e = explainFlow(ctx, { from: 'other', to: 'web-2', port: 8080, protocol: 'TCP' });
    expect(e.verdict).toBe('deny');
    expect(e.steps.at(-1)!.detail).toContain('web-from-client');
  });

  it('maps a NodePort on a node address to the endpoints', () => {
    const e = explainFlow(ctx, { from: 'client', to: '172.30.0.12', port: 30080, protocol: 'TCP' });
    expect(e.steps.find((s) => s.kind === 'service')?.detail).toContain('NodePort 30080');
  });

  it('reports names the cluster DNS does not know', () => {
    const e = explainFlow(ctx, { from: 'client', to: 'nosuch', port: 80, protocol: 'TCP' });
    expect(e.verdict).toBe('unknown');
    expect(e.steps.filter((s) => s.kind === 'dns').map((s) => s.detail)).toEqual([
      'nosuch.default.svc.cluster.local: NXDOMAIN',
      'nosuch.svc.cluster.local: NXDOMAIN',
      'nosuch.cluster.local: NXDOMAIN',
      'nosuch: outside cluster.local, forwarded upstream',
    ]);
  });
});
