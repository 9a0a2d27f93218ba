import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  compileZone,
  loadManifests,
  parseManifests,
  parseResolvConf,
  parseUpstream,
  resolve,
} from '../src/index.js';

describe('manifests', () => {
  it('collects the four kinds, also inside a List, and ignores others', () => {
    const state = parseManifests(`kind: List
items:
  - { kind: Service, metadata: { name: a, namespace: x }, spec: { clusterIP: 10.0.0.1 } }
  - { kind: Deployment, metadata: { name: d } }
---
kind: Namespace
metadata: { name: x }
---
kind: EndpointSlice
metadata: { name: s, namespace: x, labels: { kubernetes.io/service-name: a } }
addressType: IPv4
endpoints: []
---
kind: Pod
metadata: { name: p, namespace: x }
`);
    expect(state.services).toHaveLength(1);
    expect(state.namespaces).toHaveLength(1);
    expect(state.endpointSlices).toHaveLength(1);
    expect(state.pods).toHaveLength(1);
    expect(resolve(compileZone(state), { name: 'a.x.svc.cluster.local', type: 'A' })).toMatchObject(
      { rcode: 'NOERROR' },
    );
  });

  it('names the document that is wrong', () => {
    expect(() => parseManifests('kind: Service\n---\n[1, 2]\n', 'svc.yaml')).toThrow(/svc\.yaml#2/);
    expect(() => parseManifests('metadata: {}\n', 'x.yaml')).toThrow(/x\.yaml#1\.kind/);
    expect(() => parseManifests('kind: [unclosed\n', 'y.yaml')).toThrow(
      expect.objectContaining({ code: 'INVALID_MANIFEST' }),
    );
  });

  it('loads a directory in file order and reports an unreadable one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podnet-dns-unit-'));
    try {
      writeFileSync(
        join(dir, 'b.yaml'),
        'kind: Service\nmetadata: { name: b }\nspec: { clusterIP: 10.0.0.2 }\n',
      );
      writeFileSync(
        join(dir, 'a.json'),
        JSON.stringify({
          kind: 'Service',
          metadata: { name: 'a' },
          spec: { clusterIP: '10.0.0.1' },
        }),
      );
      writeFileSync(join(dir, 'notes.txt'), 'not a manifest');
      const state = await loadManifests(dir);
      expect(state.services?.map((s) => s.metadata?.name)).toEqual(['a', 'b']);
      await expect(loadManifests(join(dir, 'missing'))).rejects.toMatchObject({
        code: 'INVALID_MANIFEST',
        field: 'manifests',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('upstreams', () => {
  it('reads nameservers from resolv.conf text', () => {
    expect(
      parseResolvConf(
        '# c\nsearch a b\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:5\n',
      ),
    ).toEqual([
      { host: '10.0.0.1', port: 53 },
      { host: 'fe80::1', port: 53 },
    ]);
  });

  it('parses IP, IP:port and [IPv6]:port and names a bad entry', () => {
    expect(parseUpstream('1.1.1.1')).toEqual({ host: '1.1.1.1', port: 53 });
    expect(parseUpstream('1.1.1.1:5353')).toEqual({ host: '1.1.1.1', port: 5353 });
    expect(parseUpstream('[2001:db8::1]:54')).toEqual({ host: '2001:db8::1', port: 54 });
    expect(parseUpstream('2001:db8::1')).toEqual({ host: '2001:db8::1', port: 53 });
    expect(() => parseUpstream('dns.google', 'upstreams[2]')).toThrow(/upstreams\[2\]/);
    expect(() => parseUpstream('1.1.1.1:0')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
