import { describe, expect, it } from 'vitest';
import { formatProblem, readManifestText } from '../src/index.js';

const np = (annotations: string) =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: n\n  namespace: x\n  annotations: ${annotations}\nspec: {podSelector: {}}\n`;
const cnp = (annotations: string) =>
  `apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata:\n  name: c\n  annotations: ${annotations}\nspec: {tier: Admin, priority: 1, subject: {namespaces: {}}}\n`;

describe('policy annotations', () => {
  it('accepts podnet.io/enforcement audit or enforce and podnet.io/log-allowed true or false', () => {
    for (const a of [
      '{podnet.io/enforcement: audit}',
      '{podnet.io/enforcement: enforce, podnet.io/log-allowed: "true"}',
      '{podnet.io/log-allowed: "false"}',
    ]) {
      expect(readManifestText(np(a)).problems).toEqual([]);
      expect(readManifestText(cnp(a)).problems).toEqual([]);
    }
  });

  it('names the annotation of a bad value and the values it takes', () => {
    const r = readManifestText(np('{podnet.io/enforcement: Audit}'), { file: 'p.yaml' });
    expect(r.objects).toEqual([]);
    expect(formatProblem(r.problems[0]!)).toBe(
      'p.yaml: document 1: NetworkPolicy x/n: metadata.annotations["podnet.io/enforcement"]: want one of enforce, audit, got "Audit"',
    );
    const c = readManifestText(cnp('{podnet.io/log-allowed: "yes"}'));
    expect(c.problems.map((p) => p.path)).toEqual([
      'metadata.annotations["podnet.io/log-allowed"]',
    ]);
  });

  it('leaves the annotations of other kinds alone', () => {
    const svc =
      'apiVersion: v1\nkind: Service\nmetadata: {name: s, annotations: {podnet.io/enforcement: x}}\nspec: {ports: [{port: 80}]}\n';
    expect(readManifestText(svc).problems).toEqual([]);
  });
});
