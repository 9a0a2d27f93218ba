import { describe, expect, it } from 'vitest';
import { formatProblem, readManifestText } from '../src/index.js';

const svc = (name: string, extra = '') => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  ports:
    - port: 80${extra}
`;

describe('readManifestText', () => {
  it('reads multi-document YAML, List kinds and JSON, filling in the default namespace', () => {
    const yaml = `${svc('a')}---\n${svc('b')}---\napiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Namespace\n    metadata: {name: team}\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: p, namespace: team}\n    spec: {containers: [{name: c}]}\n`;
    const r = readManifestText(yaml, { file: 'x.yaml' });
    expect(r.problems).toEqual([]);
    expect(r.objects.map((o) => `${o.kind} ${o.key} #${o.document}`)).toEqual([
      'Service default/a #1',
      'Service default/b #2',
      'Namespace team #3',
      'Pod team/p #3',
    ]);
    expect((r.objects[0]!.object as { metadata: { namespace: string } }).metadata.namespace).toBe(
      'default',
    );
    const json = readManifestText(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ServiceList',
        items: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'j' } }],
      }),
      { file: 'l.json' },
    );
    expect(json.objects.map((o) => o.key)).toEqual(['default/j']);
  });

  it('names the file, the document and the field path of a bad field, and reads the rest', () => {
    const text = `${svc('good')}---\n${svc('bad', '\n      protocol: TCP\n    - port: 99999')}`;
    const r = readManifestText(text, { file: 'svc.yaml' });
    expect(r.objects.map((o) => o.key)).toEqual(['default/good']);
    expect(r.problems).toHaveLength(1);
    expect(formatProblem(r.problems[0]!)).toBe(
      'svc.yaml: document 2: Service default/bad: spec.ports[1].port: want an integer 1-65535, got 99999',
    );
  });

  it('refuses an unknown kind (a typo) but skips well-known kinds podnet does not read', () => {
    const r = readManifestText(
      'apiVersion: v1\nkind: Servise\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n',
      { file: 'k.yaml' },
    );
    expect(r.objects).toEqual([]);
    expect(r.problems.map((p) => [p.document, p.path])).toEqual([[1, 'kind']]);
    expect(r.problems[0]!.message).toContain('"Servise" is not a kind podnet reads');
    expect(r.ignored.map((i) => i.kind)).toEqual(['ConfigMap']);
  });

  it('says how to convert an AdminNetworkPolicy', () => {
    const r = readManifestText(
      'apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: a}\n',
    );
    expect(r.problems[0]!.message).toContain('convert it to a ClusterNetworkPolicy');
  });

  it('checks names, namespaces, addresses and apiVersions with field paths', () => {
    const r = readManifestText(
      [
        'apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name}\n',
        'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\nstatus: {podIP: 10.0.0.300}\n',
        'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\nendpoints: [{addresses: ["fd00::1"]}]\n',
        'apiVersion: networking.k8s.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {}\n',
        'apiVersion: v1\nkind: Namespace\nmetadata: {name: ns, namespace: x}\n',
      ].join('---\n'),
      { file: 'f.yaml' },
    );
    expect(r.objects).toEqual([]);
    expect(r.problems.map((p) => `${p.document} ${p.path}`)).toEqual([
      '1 metadata.name',
      '2 status.podIP',
      '3 endpoints[0].addresses[0]',
      '4 apiVersion',
      '5 metadata.namespace',
    ]);
  });

  it('reads Node taints and names a taint without a key or effect', () => {
    const ok = readManifestText(
      'apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {taints: [{key: ToBeDeletedByClusterAutoscaler, value: "1", effect: NoSchedule}]}\n',
    );
    expect(ok.problems).toEqual([]);
    expect(ok.objects[0]!.object).toMatchObject({
      spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] },
    });
    const bad = readManifestText(
      'apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {taints: [{effect: NoSchedule}, {key: k}]}\n',
    );
    expect(bad.problems.map((p) => p.path)).toEqual([
      'spec.taints[0].key',
      'spec.taints[1].effect',
    ]);
  });

  it("reads a container's command and args, and names a part that is not a string", () => {
    const ok = readManifestText(
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, command: [haproxy, -db], args: [-f, /x.cfg]}]}\n',
    );
    expect(ok.problems).toEqual([]);
    expect(ok.objects[0]!.object).toMatchObject({
      spec: { containers: [{ command: ['haproxy', '-db'], args: ['-f', '/x.cfg'] }] },
    });
    const bad = readManifestText(
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, command: haproxy, args: [-f, {a: 1}]}]}\n',
    );
    expect(bad.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'spec.containers[0].command: want a list, got "haproxy"',
      'spec.containers[0].args[1]: want a string, got {"a":1}',
    ]);
  });

  it('turns an alias bomb into one problem for its document', () => {
    const bomb = [
      'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    ].join('\n');
    const r = readManifestText(`${bomb}\n---\n${svc('after')}`, { file: 'bomb.yaml' });
    expect(r.objects.map((o) => o.key)).toEqual(['default/after']);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ file: 'bomb.yaml', document: 1 });
    expect(r.problems[0]!.message).toMatch(/alias/i);
  });

  it('refuses a text over the size limit without parsing it', () => {
    const r = readManifestText(svc('a'), { file: 'big.yaml', maxBytes: 10 });
    expect(r.objects).toEqual([]);
    expect(r.problems[0]!.message).toMatch(/larger than the limit of 10 bytes/);
  });

  it('reports a duplicate object in one text', () => {
    const r = readManifestText(`${svc('a')}---\n${svc('a')}`, { file: 'd.yaml' });
    expect(r.objects).toHaveLength(1);
    expect(r.problems[0]!.message).toContain('also defined in document 1');
  });

  it('reports YAML syntax errors per document', () => {
    const r = readManifestText(`${svc('a')}---\nkind: [\n`, { file: 's.yaml' });
    expect(r.objects).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ document: 2 });
  });
});
