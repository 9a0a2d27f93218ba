import { describe, expect, it } from 'vitest';
import { parseManifests } from '../src/index.js';

describe('parseManifests', () => {
  it('reads multi-document files and Lists into a sorted snapshot', () => {
    const files = new Map([
      [
        'b.yaml',
        `apiVersion: v1
kind: Pod
metadata: { name: web, namespace: shop, labels: { app: web } }
spec: { nodeName: n1, containers: [{ name: c, ports: [{ containerPort: 80 }] }] }
status: { podIPs: [{ ip: 10.244.1.5 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { clusterIP: 10.96.0.10, ports: [{ port: 80 }] }
`,
      ],
      [
        'a.yaml',
        `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Node
    metadata: { name: n2 }
    spec: { podCIDRs: [10.244.2.0/24] }
  - apiVersion: v1
    kind: Node
    metadata: { name: n1 }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny }
spec: { podSelector: {} }
`,
      ],
    ]);
    const { snapshot, problems } = parseManifests(files);
    expect(problems).toEqual([]);
    expect(snapshot.nodes.map((n) => n.metadata?.name)).toEqual(['n1', 'n2']);
    expect(snapshot.pods[0]?.status?.podIPs?.[0]?.ip).toBe('10.244.1.5');
    expect(snapshot.services).toHaveLength(1);
    expect(snapshot.networkPolicies[0]?.metadata?.namespace).toBe('default');
  });

  it('reports bad documents with file and index, keeps the good ones', () => {
    const { snapshot, problems } = parseManifests(
      new Map([
        [
          'x.yaml',
          `apiVersion: v1
kind: Namespace
metadata: { name: ok }
---
kind: Pod
apiVersion: v2
metadata: { name: p }
---
apiVersion: v1
kind: Namespace
metadata: { name: ok }
---
apiVersion: v1
kind: Widget
metadata: { name: w }
---
- just
- a list
---
apiVersion: v1
kind: Service
metadata: {}
---
key: [unclosed
`,
        ],
      ]),
    );
    expect(snapshot.namespaces).toHaveLength(1);
    expect(problems.map((p) => [p.document, p.message.split(':')[0]])).toEqual([
      [1, 'apiVersion'],
      [2, 'duplicate object Namespace ok'],
      [3, 'kind'],
      [4, 'a document must be a Kubernetes object (a mapping)'],
      [5, 'metadata.name'],
      [6, 'YAML'],
    ]);
  });
});
