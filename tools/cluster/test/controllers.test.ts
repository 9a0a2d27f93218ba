import type { Pod, Service } from '@podnet/cluster-state';
import { describe, expect, it } from 'vitest';
import {
  allocateClusterIp,
  allocateNodePort,
  allocateServices,
  ClusterError,
  emptyClusterObjects,
  manifestObjects,
  planApply,
  planCluster,
  planEndpointSlice,
  renderManifests,
  schedulePods,
  selects,
} from '../src/index.js';
import { appliedObjects, running } from './objects.js';

const plan = planCluster({ name: 't', prefix: 'pnc-t-', nodes: 3, network: 'podnet' });

const pod = (name: string, nodeName?: string, namespace = 'default'): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels: { app: 'web' } },
  spec: {
    ...(nodeName ? { nodeName } : {}),
    containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }],
  },
});

const svc = (name: string, spec: Service['spec']): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec,
});

describe('schedulePods', () => {
  it('puts a pod on the node with the fewest pods (first on ties), counting the batch', () => {
    const r = schedulePods(plan, [pod('a', 'node1'), pod('b', 'node2')], [pod('x'), pod('y')]);
    expect(r.problems).toEqual([]);
    expect(r.pods.map((p) => p.spec?.nodeName)).toEqual(['node3', 'node1']);
    expect(r.pods[0]!.status).toEqual({ phase: 'Pending' });
    // pods that name their node count from the start
    expect(
      schedulePods(plan, [], [pod('x'), pod('y', 'node1')]).pods.map((p) => p.spec?.nodeName),
    ).toEqual(['node2', 'node1']);
  });

  it('keeps a given nodeName and reports one the cluster has not', () => {
    const r = schedulePods(plan, [], [pod('a', 'node2'), pod('b', 'node9')]);
    expect(r.pods[0]!.spec?.nodeName).toBe('node2');
    expect(r.problems).toEqual([
      {
        index: 1,
        path: 'spec.nodeName',
        message: '"node9" is not a node of this cluster (nodes: node1, node2, node3)',
      },
    ]);
  });
});

describe('allocateServices', () => {
  it('allocates ClusterIPs around the DNS address and NodePorts in range', () => {
    expect(allocateClusterIp(plan, [])).toBe('10.96.0.11');
    expect(allocateClusterIp(plan, ['10.96.0.11'])).toBe('10.96.0.12');
    expect(allocateNodePort(plan, [30000, 30001])).toBe(30002);
    expect(() => allocateNodePort({ ...plan, nodePortRange: [30000, 30000] }, [30000])).toThrow(
      ClusterError,
    );
  });

  it("fills the Service's own fields with the API server's defaults", () => {
    const r = allocateServices(
      plan,
      [],
      [svc('web', { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80 }] })],
    );
    expect(r.problems).toEqual([]);
    expect(r.services[0]!.spec).toEqual({
      type: 'NodePort',
      selector: { app: 'web' },
      clusterIP: '10.96.0.11',
      clusterIPs: ['10.96.0.11'],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80, nodePort: 30000 }],
    });
  });

  it('keeps what a Service applied again had, and the status is dropped', () => {
    const first = allocateServices(
      plan,
      [],
      [
        svc('a', { ports: [{ port: 80 }] }),
        svc('b', { type: 'NodePort', ports: [{ port: 80 }, { port: 53, protocol: 'UDP' }] }),
      ],
    ).services;
    const again = allocateServices(plan, first, [
      {
        ...svc('b', { type: 'NodePort', ports: [{ port: 53, protocol: 'UDP' }, { port: 81 }] }),
        status: { loadBalancer: {} },
      },
    ]);
    expect(again.problems).toEqual([]);
    const b = again.services[0]!;
    expect(b.status).toBeUndefined();
    expect(b.spec?.clusterIP).toBe(first[1]!.spec?.clusterIP);
    // 53/UDP keeps its NodePort; 80 is gone, so its NodePort is free again for 81
    expect(b.spec?.ports?.map((p) => [p.port, p.nodePort])).toEqual([
      [53, 30001],
      [81, 30000],
    ]);
  });

  it('checks requested addresses and ports, and a headless Service gets none', () => {
    const web = allocateServices(
      plan,
      [],
      [
        svc('web', {
          clusterIP: '10.96.0.20',
          type: 'NodePort',
          ports: [{ port: 80, nodePort: 30080 }],
        }),
      ],
    ).services;
    const r = allocateServices(plan, web, [
      svc('a', { clusterIP: '10.96.0.20', ports: [{ port: 80 }] }),
      svc('b', { clusterIP: '10.97.0.1', ports: [{ port: 80 }] }),
      svc('c', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] }),
      svc('d', {
        type: 'NodePort',
        ports: [
          { port: 80, nodePort: 30080 },
          { port: 81, nodePort: 80 },
        ],
      }),
      svc('e', { clusterIP: 'None', selector: { app: 'web' } }),
    ]);
    expect(r.problems).toEqual([
      {
        index: 0,
        path: 'spec.clusterIP',
        message: '10.96.0.20 is the ClusterIP of Service default/web',
      },
      {
        index: 1,
        path: 'spec.clusterIP',
        message: '10.97.0.1 is not in the service CIDR 10.96.0.0/16',
      },
      { index: 2, path: 'spec.clusterIP', message: '10.96.0.10 is the cluster DNS address' },
      {
        index: 3,
        path: 'spec.ports[0].nodePort',
        message: '30080 is a NodePort of Service default/web',
      },
      {
        index: 3,
        path: 'spec.ports[1].nodePort',
        message: '80 is outside the NodePort range 30000-32767',
      },
    ]);
    expect(r.services[4]!.spec).toMatchObject({
      clusterIP: 'None',
      clusterIPs: ['None'],
      ports: [],
    });
  });
});

describe('planEndpointSlice', () => {
  const pods = [
    running(pod('a', 'node1'), '10.244.1.2'),
    pod('b', 'node2'),
    running(pod('c', 'node3', 'other'), '10.244.3.2'),
  ];

  it('selects with all labels; an empty selector selects nothing', () => {
    expect(selects({ app: 'web' }, { app: 'web', x: 'y' })).toBe(true);
    expect(selects({ app: 'web', x: 'z' }, { app: 'web', x: 'y' })).toBe(false);
    expect(selects({}, { app: 'web' })).toBe(false);
  });

  it('takes the running pods of the namespace, resolving named ports', () => {
    const slice = planEndpointSlice(
      svc('web', {
        selector: { app: 'web' },
        ports: [{ name: 'http', port: 80, targetPort: 'http' }],
      }),
      pods,
    );
    expect(slice.endpoints).toEqual([
      expect.objectContaining({ addresses: ['10.244.1.2'], nodeName: 'node1' }),
    ]);
    expect(slice.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(slice.metadata?.labels?.['kubernetes.io/service-name']).toBe('web');
  });
});

describe('planApply', () => {
  it('stores objects by key, keeps running pods, and names the file of each problem', () => {
    const objects = appliedObjects(plan, [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { a: '1' } } },
      pod('p', 'node1'),
    ]);
    const again = planApply(plan, objects, [
      ...manifestObjects([
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { a: '2' } } },
        pod('p', 'node2'),
        pod('q'),
      ]),
    ]);
    expect(again.objects.namespaces.map((n) => n.metadata?.labels)).toEqual([{ a: '2' }]);
    expect(again.unchangedPods).toEqual(['default/p']);
    expect(again.newPods.map((p) => [p.metadata?.name, p.spec?.nodeName])).toEqual([
      ['q', 'node2'],
    ]);

    try {
      planApply(plan, emptyClusterObjects(), manifestObjects([pod('p', 'node7')], 'pods.yaml'));
      expect.unreachable();
    } catch (e) {
      expect(ClusterError.isInstance(e) && e.code).toBe('INVALID_MANIFEST');
      expect((e as Error).message).toBe(
        '1 problem in the manifests, nothing applied:\n  pods.yaml: document 1: Pod default/p: spec.nodeName: "node7" is not a node of this cluster (nodes: node1, node2, node3)',
      );
    }
  });
});

describe('renderManifests', () => {
  it('renders Nodes with podCIDRs and InternalIP, namespaces with the name label, pods with podIPs', () => {
    const objects = appliedObjects(
      plan,
      [pod('a', 'node1'), pod('b', 'node2'), pod('c', 'node3', 'other')],
      {
        'default/a': '10.244.1.2',
      },
    );
    const files = Object.fromEntries(renderManifests(plan, objects).map((f) => [f.file, f.object]));
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
    expect(files['pod-default.a.yaml']).toMatchObject({
      status: { podIPs: [{ ip: '10.244.1.2' }] },
    });
    expect(files['pod-default.b.yaml']).toMatchObject({ status: { phase: 'Pending' } });
  });
});
