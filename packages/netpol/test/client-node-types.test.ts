/**
 * `@kubernetes/client-node`'s models go in as they are: this file compiling under `tsc` is the
 * type-level half of the test (no cast anywhere below); the run-time half checks that client-node's
 * `_from` (its typed name for an ingress rule's `from`) means the same as `from`.
 */
import type { V1Namespace, V1NetworkPolicy, V1Node, V1Pod } from '@kubernetes/client-node';
import { Host } from '@podnet/host';
import { RecordingRunner } from '@podnet/host/testing';
import { describe, expect, it } from 'vitest';
import {
  type ClusterState,
  compilePolicies,
  evaluate,
  type NetworkPolicy,
  type PolicyChanges,
  PolicyEvaluator,
  PolicySyncer,
  validatePolicy,
} from '../src/index.js';

// Objects as a typed client-node call returns them: Date timestamps, `_from`, string protocols.
const created = new Date('2025-01-01T00:00:00Z');

const namespaces: V1Namespace[] = ['x', 'y'].map((name) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { team: name === 'x' ? 'web' : 'db' }, creationTimestamp: created },
}));

const pods: V1Pod[] = [
  { ns: 'x', name: 'a', app: 'web', ip: '10.244.1.5' },
  { ns: 'y', name: 'b', app: 'db', ip: '10.244.2.7' },
].map(({ ns, name, app, ip }) => ({
  metadata: { name, namespace: ns, labels: { app }, creationTimestamp: created },
  spec: {
    nodeName: 'node-1',
    containers: [
      {
        name: app,
        image: 'busybox',
        ports: [{ name: 'pg', containerPort: 5432, protocol: 'TCP' }],
      },
    ],
  },
  status: {
    phase: 'Running',
    podIP: ip,
    podIPs: [{ ip }],
    hostIP: '192.168.0.11',
    hostIPs: [{ ip: '192.168.0.11' }],
  },
}));

const nodes: V1Node[] = [
  {
    metadata: { name: 'node-1', labels: { role: 'worker' } },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.0.11' }] },
  },
];

const clientNodePolicy: V1NetworkPolicy = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace: 'y', name: 'db-from-web', generation: 1, creationTimestamp: created },
  spec: {
    podSelector: { matchLabels: { app: 'db' } },
    policyTypes: ['Ingress'],
    ingress: [
      {
        _from: [
          {
            namespaceSelector: {
              matchExpressions: [{ key: 'team', operator: 'In', values: ['web'] }],
            },
          },
        ],
        ports: [{ port: 'pg', protocol: 'TCP' }],
      },
    ],
  },
};

/** The same policy as YAML/JSON spells it (`from`). */
const wirePolicy: NetworkPolicy = {
  ...clientNodePolicy,
  spec: {
    ...clientNodePolicy.spec,
    ingress: [
      {
        from: [
          {
            namespaceSelector: {
              matchExpressions: [{ key: 'team', operator: 'In', values: ['web'] }],
            },
          },
        ],
        ports: [{ port: 'pg', protocol: 'TCP' }],
      },
    ],
  },
};

// Type level: client-node's arrays are a ClusterState and PolicyChanges without conversion.
const state: ClusterState = { namespaces, pods, nodes, networkPolicies: [clientNodePolicy] };
const changes: PolicyChanges = { namespaces, pods, nodes, networkPolicies: [clientNodePolicy] };

const FLOWS = [
  { src: 'x/a', dst: 'y/b', port: 5432 },
  { src: 'x/a', dst: 'y/b', port: 80 },
  { src: 'y/b', dst: 'x/a', port: 5432 },
  { src: '203.0.113.9', dst: '10.244.2.7', port: 5432 },
];

describe("client-node's models", () => {
  it('are accepted by PolicySyncer.sync, update and evaluate as they are', async () => {
    const runner = new RecordingRunner();
    const syncer = new PolicySyncer({ host: new Host({ runner }), nodeName: 'node-1' });
    const r = await syncer.sync({ namespaces, pods, nodes, networkPolicies: [clientNodePolicy] });
    expect(r.invalid).toEqual([]);
    expect(r.script).toContain('podnet:drop:in:np:y/db-from-web');
    expect((await syncer.update(changes)).script).toBe('');
    const flow = { src: 'x/a', dst: 'y/b', port: 5432 };
    expect(
      evaluate({ namespaces, pods, nodes, networkPolicies: [clientNodePolicy] }, flow).verdict,
    ).toBe('allow');
    expect(new PolicyEvaluator(state).evaluate({ src: 'x/a', dst: 'y/b', port: 80 }).verdict).toBe(
      'deny',
    );
    expect(validatePolicy(clientNodePolicy)).toEqual([]);
  });

  it('a policy with `_from` is evaluated and compiled exactly like one with `from`', () => {
    const withFrom: ClusterState = { ...state, networkPolicies: [wirePolicy] };
    const ev1 = new PolicyEvaluator(state);
    const ev2 = new PolicyEvaluator(withFrom);
    for (const flow of FLOWS) expect(ev1.evaluate(flow)).toEqual(ev2.evaluate(flow));
    expect(FLOWS.map((f) => ev1.evaluate(f).verdict)).toEqual(['allow', 'deny', 'allow', 'deny']);
    expect(compilePolicies(state, { nodeName: 'node-1' })).toEqual(
      compilePolicies(withFrom, { nodeName: 'node-1' }),
    );
  });

  it('`from` and `_from` together are rejected, naming the field', () => {
    const both = {
      ...clientNodePolicy,
      spec: { ...clientNodePolicy.spec, ingress: [{ from: [], _from: [] }] },
    };
    expect(validatePolicy(both)).toEqual([
      {
        path: 'spec.ingress[0]._from',
        message: "may not be set together with from (client-node's name for it)",
      },
    ]);
  });
});
