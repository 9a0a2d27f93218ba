import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ClusterStore,
  OBJECT_KINDS,
  objectKey,
  readManifestText,
  SNAPSHOT_FIELDS,
} from '@podnet/cluster-state';
import { ManifestsSource } from '@podnet/cluster-state/sources';
import { afterAll, describe, expect, it } from 'vitest';
import { writeManifestDir } from '../src/manifest-dir.js';
import {
  ACCEPTED_KINDS,
  manifestFileName,
  planCluster,
  renderCluster,
  renderManifests,
} from '../src/index.js';
import { appliedObjects } from './objects.js';

// "What the cluster writes is exactly what the agents read": a cluster with every kind podnet
// apply accepts (and the Nodes and EndpointSlices it makes) is rendered, written as the cluster
// writes its manifests directory, and read back with @podnet/cluster-state, file by file and as
// the agents' manifests source reads the directory.

const plan = planCluster({ name: 't', prefix: 'pnc-t-', nodes: 3, network: 'podnet' });

const objects = appliedObjects(
  plan,
  [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      // label values YAML would read as other types if written bare
      metadata: {
        name: 'shop',
        labels: { team: 'shop', on: 'true', version: '1.10', mode: '0755' },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' } },
      spec: {
        nodeName: 'node1',
        containers: [
          {
            name: 'main',
            image: 'podnet/pod-server',
            ports: [
              { name: 'http', containerPort: 8080 },
              { name: 'dns', containerPort: 5353, protocol: 'UDP' },
              { containerPort: 9000, hostPort: 9001 },
            ],
          },
        ],
        hostname: 'web-1',
        subdomain: 'web',
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web.2', namespace: 'shop', labels: { app: 'web' } },
      spec: { containers: [{ name: 'main', ports: [{ name: 'http', containerPort: 8080 }] }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'pending', labels: { app: 'web' } },
      spec: { containers: [] },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop' },
      spec: {
        type: 'NodePort',
        selector: { app: 'web' },
        sessionAffinity: 'ClientIP',
        ports: [
          { name: 'http', port: 80, targetPort: 'http' },
          { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web-headless', namespace: 'shop' },
      spec: { clusterIP: 'None', selector: { app: 'web' } },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'external-ish' },
      spec: { ports: [{ port: 443, targetPort: 8443 }] },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'web-from-shop', namespace: 'shop' },
      spec: {
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { team: 'shop' } } },
              { ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.7/32'] } },
            ],
            ports: [
              { protocol: 'TCP', port: 'http' },
              { port: 9000, endPort: 9010 },
            ],
          },
        ],
        egress: [{ to: [{ podSelector: {} }] }],
      },
    },
    {
      apiVersion: 'policy.networking.k8s.io/v1alpha2',
      kind: 'ClusterNetworkPolicy',
      metadata: { name: 'deny-outsiders' },
      spec: {
        tier: 'Admin',
        priority: 10,
        subject: { namespaces: { matchLabels: { team: 'shop' } } },
        ingress: [
          {
            name: 'deny',
            action: 'Deny',
            from: [
              { namespaces: { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] } },
            ],
            protocols: [{ tcp: { destinationPort: { range: { start: 8000, end: 8100 } } } }],
          },
        ],
        egress: [{ action: 'Pass', to: [{ networks: ['198.51.100.0/24'] }] }],
      },
    },
  ],
  { 'shop/web-1': '10.244.1.2', 'shop/web.2': '10.244.2.2' },
);

const dir = mkdtempSync(join(tmpdir(), 'podnet-manifests-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the manifests directory', () => {
  const files = renderManifests(plan, objects);

  it('holds every kind cluster-state reads, the user kinds as applied', () => {
    expect([...new Set(files.map((f) => f.kind))].sort()).toEqual([...OBJECT_KINDS].sort());
    for (const kind of ACCEPTED_KINDS) expect(files.some((f) => f.kind === kind)).toBe(true);
    const web = files.find((f) => f.file === 'service-shop.web.yaml')!.object;
    expect(web).toMatchObject({
      spec: { clusterIP: '10.96.0.11', ports: [{ nodePort: 30000 }, { nodePort: 30001 }] },
    });
    const slice = files.find((f) => f.file === 'endpointslice-shop.web-podnet.yaml')!.object;
    expect(slice).toMatchObject({
      endpoints: [{ addresses: ['10.244.1.2'] }, { addresses: ['10.244.2.2'] }],
      ports: [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'dns', port: 5353, protocol: 'UDP' },
      ],
    });
  });

  it('reads back file by file with readManifestText: no problem, the objects written', async () => {
    await writeManifestDir(dir, files);
    const names = readdirSync(dir).sort();
    expect(names).toEqual(files.map((f) => f.file).sort());
    for (const f of files) {
      const read = readManifestText(readFileSync(join(dir, f.file), 'utf8'), { file: f.file });
      expect(read.problems, f.file).toEqual([]);
      expect(read.ignored, f.file).toEqual([]);
      expect(read.objects.map((o) => o.kind)).toEqual([f.kind]);
      expect(read.objects[0]!.object, f.file).toEqual(f.object);
      expect(manifestFileName(f.kind, read.objects[0]!.object)).toBe(f.file);
    }
  });

  it("reads back as the agents' manifests source reads the directory: the cluster rendered", async () => {
    await writeManifestDir(dir, files);
    const store = new ClusterStore();
    const source = new ManifestsSource({ dir, watch: false });
    await source.start(store);
    await source.stop();
    expect(source.problems).toEqual([]);
    const want = renderCluster(plan, objects);
    const got = store.snapshot();
    for (const kind of OBJECT_KINDS) {
      const field = SNAPSHOT_FIELDS[kind];
      const byKey = <T extends object>(list: readonly T[]) =>
        [...list].sort((a, b) => (objectKey(kind, a) < objectKey(kind, b) ? -1 : 1));
      expect(byKey(got[field]), kind).toEqual(byKey(want[field]));
    }
  });

  it('loses the files of objects that are gone, and leaves unchanged files alone', async () => {
    await writeManifestDir(dir, files);
    const before = readdirSync(dir).length;
    const node1 = () => statSync(join(dir, 'node-node1.yaml'));
    const { ino, mtimeMs } = node1();
    await writeManifestDir(dir, files);
    expect(node1()).toMatchObject({ ino, mtimeMs });
    const fewer = files.filter((f) => f.kind !== 'ClusterNetworkPolicy');
    await writeManifestDir(dir, fewer);
    expect(readdirSync(dir)).not.toContain('clusternetworkpolicy-deny-outsiders.yaml');
    expect(readdirSync(dir)).toHaveLength(before - 1);
  });
});
