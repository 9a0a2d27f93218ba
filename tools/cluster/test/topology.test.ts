import type { EndpointSlice, Pod, Service } from '@podnet/cluster-state';
import { describe, expect, it } from 'vitest';
import {
  allocateHealthCheckNodePorts,
  explainFlow,
  nodeZone,
  planCluster,
  planEndpointSlices,
  renderCluster,
  withTopology,
  ZONE_LABEL,
  zonesOf,
} from '../src/index.js';
import { appliedObjects, running } from './objects.js';

const plan = planCluster({ name: 't', prefix: 'pnc-t-', nodes: 3, network: 'podnet' });

const svc = (name: string, spec: Service['spec']): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec,
});

const pod = (name: string, nodeName: string, ip: string): Pod =>
  running(
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels: { app: 'web' } },
      spec: { nodeName, containers: [{ name: 'c', ports: [{ containerPort: 8080 }] }] },
    },
    ip,
  );

describe('zones of the namespace cluster', () => {
  it('puts segment A in zone-a and segment B in zone-b: a 3-node cluster has two zones', () => {
    expect(plan.nodes.map((n) => [n.name, nodeZone(n)])).toEqual([
      ['node1', 'zone-a'],
      ['node2', 'zone-a'],
      ['node3', 'zone-b'],
    ]);
    const small = planCluster({ name: 't', prefix: 'pnc-t-', nodes: 2, network: 'podnet' });
    expect(new Set(small.nodes.map(nodeZone))).toEqual(new Set(['zone-a']));
    const snapshot = renderCluster(plan, appliedObjects(plan, []));
    expect(snapshot.nodes.map((n) => n.metadata?.labels?.[ZONE_LABEL])).toEqual([
      'zone-a',
      'zone-a',
      'zone-b',
    ]);
  });
});

describe('EndpointSlice topology', () => {
  const pods = [pod('a', 'node1', '10.244.1.2'), pod('b', 'node3', '10.244.3.2')];
  const base = { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] };
  const endpointsOf = (td?: string) =>
    planEndpointSlices(
      [svc('web', { ...base, ...(td ? { trafficDistribution: td } : {}) })],
      pods,
      zonesOf(plan),
    )[0]!.endpoints.map((e) => ({ ip: e.addresses[0], zone: e.zone, hints: e.hints }));

  it.each([
    [
      'no trafficDistribution: zones, no hints',
      undefined,
      [
        { ip: '10.244.1.2', zone: 'zone-a', hints: undefined },
        { ip: '10.244.3.2', zone: 'zone-b', hints: undefined },
      ],
    ],
    [
      'PreferClose: each endpoint hinted for its own zone',
      'PreferClose',
      [
        { ip: '10.244.1.2', zone: 'zone-a', hints: { forZones: [{ name: 'zone-a' }] } },
        { ip: '10.244.3.2', zone: 'zone-b', hints: { forZones: [{ name: 'zone-b' }] } },
      ],
    ],
    [
      'PreferSameZone: as PreferClose',
      'PreferSameZone',
      [
        { ip: '10.244.1.2', zone: 'zone-a', hints: { forZones: [{ name: 'zone-a' }] } },
        { ip: '10.244.3.2', zone: 'zone-b', hints: { forZones: [{ name: 'zone-b' }] } },
      ],
    ],
    [
      'PreferSameNode: zone and node hints',
      'PreferSameNode',
      [
        {
          ip: '10.244.1.2',
          zone: 'zone-a',
          hints: { forZones: [{ name: 'zone-a' }], forNodes: [{ name: 'node1' }] },
        },
        {
          ip: '10.244.3.2',
          zone: 'zone-b',
          hints: { forZones: [{ name: 'zone-b' }], forNodes: [{ name: 'node3' }] },
        },
      ],
    ],
    [
      'an unknown value: no hints',
      'Nearby',
      [
        { ip: '10.244.1.2', zone: 'zone-a', hints: undefined },
        { ip: '10.244.3.2', zone: 'zone-b', hints: undefined },
      ],
    ],
  ])('%s', (_what, td, want) => {
    expect(endpointsOf(td)).toEqual(want);
  });

  it('gives no hint to an endpoint without a zone or not ready, and drops stale hints', () => {
    const slice: EndpointSlice = {
      metadata: { name: 's', namespace: 'default' },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.0.0.1'], nodeName: 'elsewhere' },
        { addresses: ['10.0.0.2'], nodeName: 'node1', conditions: { ready: false } },
        { addresses: ['10.0.0.3'], nodeName: 'node1', hints: { forZones: [{ name: 'old' }] } },
      ],
    };
    const close = withTopology(
      slice,
      svc('s', { trafficDistribution: 'PreferClose' }),
      zonesOf(plan),
    );
    expect(close.endpoints.map((e) => [e.zone, e.hints])).toEqual([
      [undefined, undefined],
      ['zone-a', undefined],
      ['zone-a', { forZones: [{ name: 'zone-a' }] }],
    ]);
    const none = withTopology(slice, svc('s', {}), zonesOf(plan));
    expect(none.endpoints.every((e) => e.hints === undefined)).toBe(true);
  });
});

describe('allocateHealthCheckNodePorts', () => {
  const lb = (name: string, extra: NonNullable<Service['spec']> = {}, nodePort = 30000): Service =>
    svc(name, {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      ports: [{ port: 80, nodePort }],
      ...extra,
    });

  it('gives a LoadBalancer/Local Service the next free port of the range, none to others', () => {
    const r = allocateHealthCheckNodePorts(
      plan,
      [],
      [
        lb('a', {}, 30000),
        lb('b', { externalTrafficPolicy: 'Cluster' }, 30001),
        svc('c', {
          type: 'NodePort',
          externalTrafficPolicy: 'Local',
          ports: [{ port: 80, nodePort: 30002 }],
        }),
        lb('d', {}, 30004),
      ],
    );
    expect(r.problems).toEqual([]);
    expect(r.services.map((s) => s.spec?.healthCheckNodePort)).toEqual([
      30003,
      undefined,
      undefined,
      30005,
    ]);
  });

  it('keeps a port across re-apply and honours a requested one', () => {
    const first = allocateHealthCheckNodePorts(plan, [], [lb('a')]).services;
    expect(first[0]!.spec?.healthCheckNodePort).toBe(30001);
    const again = allocateHealthCheckNodePorts(plan, first, [lb('a')]);
    expect(again.services[0]!.spec?.healthCheckNodePort).toBe(30001);
    const asked = allocateHealthCheckNodePorts(plan, first, [
      lb('a', { healthCheckNodePort: 32000 }),
    ]);
    expect(asked.problems).toEqual([]);
    expect(asked.services[0]!.spec?.healthCheckNodePort).toBe(32000);
  });

  it.each([
    [
      'outside the range',
      lb('b', { healthCheckNodePort: 80 }, 30100),
      '80 is outside the NodePort range 30000-32767',
    ],
    [
      'another Service’s health check port',
      lb('b', { healthCheckNodePort: 30001 }, 30100),
      '30001 is already allocated to Service default/a',
    ],
    [
      'another Service’s NodePort',
      lb('b', { healthCheckNodePort: 30000 }, 30100),
      '30000 is already allocated to Service default/a',
    ],
    [
      'its own NodePort',
      lb('b', { healthCheckNodePort: 30100 }, 30100),
      '30100 is a NodePort of this Service',
    ],
    [
      'a Service that gets none',
      svc('b', {
        type: 'NodePort',
        healthCheckNodePort: 30200,
        ports: [{ port: 80, nodePort: 30100 }],
      }),
      'may only be set for type LoadBalancer with externalTrafficPolicy Local',
    ],
  ])('refuses a requested port that is %s, naming the field', (_what, incoming, message) => {
    const current = allocateHealthCheckNodePorts(plan, [], [lb('a')]).services;
    const r = allocateHealthCheckNodePorts(plan, current, [incoming]);
    expect(r.problems).toEqual([
      { index: 0, path: 'spec.healthCheckNodePort', message: expect.stringContaining(message) },
    ]);
  });

  it('is part of podnet apply: a LoadBalancer/Local Service gets one port, kept on re-apply', () => {
    const manifest = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        selector: { app: 'web' },
        ports: [{ port: 80, targetPort: 8080 }],
      },
    };
    const objects = appliedObjects(plan, [manifest]);
    const s = objects.services[0]!;
    const hc = s.spec?.healthCheckNodePort;
    expect(hc).toBeGreaterThanOrEqual(30000);
    expect(s.spec?.ports?.map((p) => p.nodePort)).not.toContain(hc);
  });
});

describe('explain with zones', () => {
  it('DNATs a PreferClose Service only to the endpoints of the source node’s zone', () => {
    const spec = (td?: string) => ({
      selector: { app: 'web' },
      ...(td ? { trafficDistribution: td } : {}),
      ports: [{ port: 80, targetPort: 8080 }],
    });
    const mk = (name: string, node: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels: { app: name === 'client' ? 'cli' : 'web' } },
      spec: { nodeName: node, containers: [{ name: 'c', ports: [{ containerPort: 8080 }] }] },
    });
    const objects = appliedObjects(
      plan,
      [
        mk('client', 'node1'),
        mk('web-a', 'node2'),
        mk('web-b', 'node3'),
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'close' },
          spec: spec('PreferClose'),
        },
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'spread' }, spec: spec() },
      ],
      {
        'default/client': '10.244.1.2',
        'default/web-a': '10.244.2.2',
        'default/web-b': '10.244.3.2',
      },
    );
    const service = (to: string) =>
      explainFlow(
        { plan, objects, search: ['default.svc.cluster.local'], ndots: 5 },
        { from: 'client', to, port: 80, protocol: 'TCP' },
      ).steps.find((st) => st.kind === 'service')!.detail;
    expect(service('close')).toMatch(/DNAT to 10\.244\.2\.2:8080 /);
    expect(service('spread')).toContain('DNAT to one of 10.244.2.2:8080, 10.244.3.2:8080');
  });
});
