import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatProblem } from '@podnet/cluster-state';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ClusterError, main, manifestObjects, readManifestPath } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'podnet-apply-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A directory of manifest files. */
function manifests(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

async function problemsOf(path: string): Promise<string[]> {
  try {
    await readManifestPath(path);
  } catch (e) {
    if (!ClusterError.isInstance(e) || e.code !== 'INVALID_MANIFEST') throw e;
    const n = e.problems.length;
    expect(e.message.split('\n')[0]).toBe(
      `${n} problem${n === 1 ? '' : 's'} in the manifests, nothing applied:`,
    );
    return e.problems.map(formatProblem);
  }
  return [];
}

const POD = `apiVersion: v1
kind: Pod
metadata: { name: web, labels: { app: web } }
spec: { containers: [{ name: c, ports: [{ containerPort: 80 }] }] }
`;

describe('podnet apply input', () => {
  it('reads *.yaml, *.yml and *.json of a directory in name order, every accepted kind', async () => {
    const dir = manifests('good', {
      '2-svc.yml': `apiVersion: v1
kind: Service
metadata: { name: web }
spec: { type: NodePort, selector: { app: web }, ports: [{ port: 80 }] }
`,
      '1-pods.yaml': `apiVersion: v1
kind: Namespace
metadata: { name: x }
---
${POD}`,
      '3-policies.json': JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'networking.k8s.io/v1',
            kind: 'NetworkPolicy',
            metadata: { name: 'np', namespace: 'x' },
            spec: { podSelector: {} },
          },
          {
            apiVersion: 'policy.networking.k8s.io/v1alpha2',
            kind: 'ClusterNetworkPolicy',
            metadata: { name: 'cnp' },
            spec: { tier: 'Baseline', priority: 5, subject: { namespaces: {} }, ingress: [] },
          },
        ],
      }),
      '.hidden.yaml': 'this is: [not read',
      'notes.txt': 'not read either',
    });
    const objects = await readManifestPath(dir);
    expect(
      objects.map((o) => `${o.file.slice(dir.length + 1)} ${o.document} ${o.kind} ${o.key}`),
    ).toEqual([
      '1-pods.yaml 1 Namespace x',
      '1-pods.yaml 2 Pod default/web',
      '2-svc.yml 1 Service default/web',
      '3-policies.json 1 NetworkPolicy x/np',
      '3-policies.json 1 ClusterNetworkPolicy cnp',
    ]);
    // a file on its own, whatever its name
    expect((await readManifestPath(join(dir, '2-svc.yml'))).map((o) => o.kind)).toEqual([
      'Service',
    ]);
  });

  it('lists every problem of every file (file, document, object, field) and returns nothing', async () => {
    const dir = manifests('bad', {
      'a.yaml': `apiVersion: v1
kind: Service
metadata: { name: lb }
spec: { type: LoadBalancer, ports: [{ port: 80 }], loadBalancerClass: example.com/lb }
---
apiVersion: v1
kind: Node
metadata: { name: node9 }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
---
apiVersion: v1
kind: Pod
metadata: { name: big }
spec: { containers: [{ name: c, ports: [{ containerPort: 70000 }] }] }
`,
      'b.json': JSON.stringify({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 's' },
        addressType: 'IPv4',
        endpoints: [],
      }),
      'c.yaml': `apiVersion: v1
kind: Servise
metadata: { name: typo }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: np }
spec:
  podSelector: {}
  ingress: [{ from: [{ ipBlock: { cidr: 10.0.0.0/8 }, podSelector: {} }] }]
---
apiVersion: v1
kind: Pod
metadata: { name: host }
spec: { hostNetwork: true, containers: [{ name: c, ports: [{ containerPort: 80, protocol: SCTP }] }] }
`,
      'd.yaml': POD,
      'e.yaml': POD,
    });
    const at = (f: string) => join(dir, f);
    expect(await problemsOf(dir)).toEqual([
      `${at('a.yaml')}: document 1: Service default/lb: spec.loadBalancerClass: the namespace cluster's load balancer controller is the only one: leave it out`,
      `${at('a.yaml')}: document 2: Node node9: kind: Nodes are managed by the cluster (one per node of podnet up --nodes): not applied`,
      `${at('a.yaml')}: document 3: Deployment web: kind: "Deployment" (apps/v1) is not a kind podnet apply accepts (supported: Namespace, Pod, Service, NetworkPolicy, ClusterNetworkPolicy)`,
      `${at('a.yaml')}: document 4: Pod default/big: spec.containers[0].ports[0].containerPort: want an integer 1-65535, got 70000`,
      `${at('b.json')}: document 1: EndpointSlice default/s: kind: EndpointSlices are managed by the cluster's endpoint slice controller (one per Service with a selector): not applied`,
      `${at('c.yaml')}: document 1: Servise typo: kind: "Servise" (v1) is not a kind podnet apply accepts (supported: Namespace, Pod, Service, NetworkPolicy, ClusterNetworkPolicy)`,
      `${at('c.yaml')}: document 2: NetworkPolicy default/np: spec.ingress[0].from[0]: ipBlock may not be combined with podSelector or namespaceSelector in one peer`,
      `${at('c.yaml')}: document 3: Pod default/host: spec.hostNetwork: the namespace cluster runs every pod in a network namespace of its own: not supported`,
      `${at('c.yaml')}: document 3: Pod default/host: spec.containers[0].ports[0].protocol: SCTP is not supported by the namespace cluster's pod server (supported: TCP, UDP)`,
      `${at('e.yaml')}: document 1: Pod default/web: metadata.name: also defined in ${at('d.yaml')} document 1`,
    ]);
  });

  it('refuses a missing path, an empty directory and broken YAML clearly', async () => {
    await expect(readManifestPath(join(root, 'nope'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(readManifestPath(manifests('empty', {}))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('holds no *.yaml, *.yml or *.json file'),
    });
    const dir = manifests('broken', { 'x.yaml': 'a: [1\n', 'y.json': '{"kind": ' });
    const problems = await problemsOf(dir);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/x\.yaml: document 1: YAML: Flow sequence/);
    expect(problems[1]).toBe(
      `${join(dir, 'y.json')}: document 1: JSON: Unexpected end of JSON input`,
    );
  });

  it('accepts plain values the same way (manifestObjects)', () => {
    expect(() =>
      manifestObjects([{ kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } }], 'mine'),
    ).toThrow('\n  mine: document 1: apiVersion: want v1 for Pod, got undefined');
    expect(
      manifestObjects([
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } },
      ])[0],
    ).toMatchObject({ kind: 'Pod', key: 'default/p', file: 'objects', document: 1 });
  });
});

describe('podnet apply (CLI)', () => {
  const stderr: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    stderr.length = 0;
  });

  it('exits 2 listing the problems before it looks for the cluster', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      stderr.push(String(s));
      return true;
    });
    const dir = manifests('cli', {
      'svc.yaml': `apiVersion: v1
kind: Service
metadata: { name: ext }
spec: { type: ExternalName, externalName: example.org, clusterIP: 10.96.0.99 }
`,
    });
    const code = await main(['apply', dir, '--name', 'none', '--run-root', join(root, 'run')]);
    expect(code).toBe(2);
    expect(stderr.join('')).toBe(
      `podnet apply: INVALID_MANIFEST: 1 problem in the manifests, nothing applied:\n  ${join(dir, 'svc.yaml')}: document 1: Service default/ext: spec.clusterIP: an ExternalName Service has no ClusterIP: leave it out\n`,
    );
  });
});
