import { describe, expect, it } from 'vitest';
import {
  allocateClusterIp,
  allocateNodePort,
  ClusterError,
  type PodRecord,
  parseUserObjects,
  planCluster,
  planEndpointSlice,
  renderManifests,
  schedule,
  selects,
} from '../src/index.js';

const plan = planCluster({ name: 't', prefix: 'pnc-t-', nodes: 3, network: 'podnet' });

const pods: PodRecord[] = [
  {
    namespace: 'default',
    name: 'a',
    labels: { app: 'web' },
    nodeName: 'node1',
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    ip: '10.244.1.2',
  },
  {
    namespace: 'default',
    name: 'b',
    labels: { app: 'web' },
    nodeName: 'node2',
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
  },
  {
    namespace: 'other',
    name: 'c',
    labels: { app: 'web' },
    nodeName: 'node3',
    ports: [],
    ip: '10.244.3.2',
  },
];

describe('parseUserObjects', () => {
  it('reads pods, services, namespaces and policies with defaults', () => {
    const o = parseUserObjects([
      { kind: 'Namespace', metadata: { name: 'x', labels: { ns: 'x' } } },
      {
        kind: 'Pod',
        metadata: { name: 'p' },
        spec: {
          containers: [{ ports: [{ containerPort: 53, protocol: 'UDP' }, { containerPort: 80 }] }],
        },
      },
      {
        kind: 'Service',
        metadata: { name: 's', namespace: 'x' },
        spec: { selector: { app: 'a' }, ports: [{ port: 80, targetPort: 'http' }] },
      },
      { kind: 'NetworkPolicy', metadata: { name: 'np' }, spec: { podSelector: {} } },
      null,
    ]);
    expect(o.namespaces).toEqual([{ name: 'x', labels: { ns: 'x' } }]);
    expect(o.pods[0]).toMatchObject({
      namespace: 'default',
      nodeName: '',
      ports: [
        { containerPort: 53, protocol: 'UDP' },
        { containerPort: 80, protocol: 'TCP' },
      ],
    });
    expect(o.services[0]).toMatchObject({
      type: 'ClusterIP',
      ports: [{ port: 80, targetPort: 'http', protocol: 'TCP' }],
    });
    expect((o.networkPolicies[0]!.metadata as { namespace: string }).namespace).toBe('default');
  });

  it('names the offending field', () => {
    expect(() =>
      parseUserObjects(
        [
          {
            kind: 'Pod',
            metadata: { name: 'p' },
            spec: { containers: [{ ports: [{ containerPort: 70000 }] }] },
          },
        ],
        'f.yaml',
      ),
    ).toThrow(
      /f\.yaml\[0\] \(Pod\)\.spec\.containers\[0\]\.ports\[0\]\.containerPort: want a port/,
    );
    expect(() => parseUserObjects([{ kind: 'Deployment', metadata: { name: 'd' } }])).toThrow(
      /kind: want Namespace/,
    );
    expect(() => parseUserObjects([{ kind: 'Pod', metadata: { name: 'Bad' }, spec: {} }])).toThrow(
      /metadata\.name/,
    );
    expect(() =>
      parseUserObjects([
        { kind: 'Service', metadata: { name: 's' }, spec: { type: 'LoadBalancer', ports: [] } },
      ]),
    ).toThrow(/spec\.type/);
  });
});

describe('control plane', () => {
  it('schedules onto the least loaded node and checks nodeName', () => {
    const p = { ...pods[0]!, nodeName: '' };
    expect(schedule(plan, pods, p)).toBe('node1');
    expect(schedule(plan, pods.slice(0, 1), p)).toBe('node2');
    expect(() => schedule(plan, pods, { ...p, nodeName: 'node9' })).toThrow(ClusterError);
  });

  it('allocates ClusterIPs around the DNS address and NodePorts in range', () => {
    expect(allocateClusterIp(plan, [])).toBe('10.96.0.11');
    expect(allocateClusterIp(plan, ['10.96.0.11'])).toBe('10.96.0.12');
    expect(allocateNodePort(plan, [30000, 30001])).toBe(30002);
  });

  it('selects with all labels; an empty selector selects nothing', () => {
    expect(selects({ app: 'web' }, { app: 'web', x: 'y' })).toBe(true);
    expect(selects({ app: 'web', x: 'z' }, { app: 'web', x: 'y' })).toBe(false);
    expect(selects({}, { app: 'web' })).toBe(false);
  });

  it('builds endpoint slices from ready pods of the namespace, resolving named ports', () => {
    const slice = planEndpointSlice(
      {
        namespace: 'default',
        name: 'web',
        type: 'ClusterIP',
        selector: { app: 'web' },
        ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
      },
      pods,
    ) as {
      endpoints: { addresses: string[]; nodeName: string }[];
      ports: unknown[];
      metadata: { labels: Record<string, string> };
    };
    expect(slice.endpoints).toEqual([
      expect.objectContaining({ addresses: ['10.244.1.2'], nodeName: 'node1' }),
    ]);
    expect(slice.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(slice.metadata.labels['kubernetes.io/service-name']).toBe('web');
  });

  it('renders Nodes with podCIDRs and InternalIP, namespaces with the name label, pods with podIPs', () => {
    const files = renderManifests(plan, {
      namespaces: [],
      pods,
      services: [],
      networkPolicies: [],
    });
    expect(files['node-node3.yaml']).toMatchObject({
      spec: { podCIDRs: ['10.244.3.0/24'] },
      status: {
        addresses: [
          { type: 'InternalIP', address: '172.30.1.13' },
          { type: 'Hostname', address: 'node3' },
        ],
      },
    });
    expect(files['namespace-other.yaml']).toMatchObject({
      metadata: { labels: { 'kubernetes.io/metadata.name': 'other' } },
    });
    expect(files['pod-default-a.yaml']).toMatchObject({
      status: { podIPs: [{ ip: '10.244.1.2' }] },
    });
    expect(files['pod-default-b.yaml']).toMatchObject({ status: { phase: 'Pending' } });
  });
});
