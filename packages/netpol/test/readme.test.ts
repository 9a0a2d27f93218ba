import { describe, expect, it } from 'vitest';
import { type ClusterState, evaluate, PolicyEvaluator, validatePolicy } from '../src/index.js';

describe('README examples', () => {
  const state: ClusterState = {
    namespaces: [{ metadata: { name: 'x', labels: { team: 'web' } } }, { metadata: { name: 'y' } }],
    pods: [
      {
        metadata: { name: 'a', namespace: 'x', labels: { app: 'web' } },
        status: { podIP: '10.244.1.5', hostIP: '192.168.0.11' },
      },
      {
        metadata: { name: 'b', namespace: 'y', labels: { app: 'db' } },
        spec: { containers: [{ name: 'db', ports: [{ name: 'pg', containerPort: 5432 }] }] },
        status: { podIP: '10.244.2.7', hostIP: '192.168.0.12' },
      },
    ],
    networkPolicies: [
      {
        metadata: { namespace: 'y', name: 'db-from-web' },
        spec: {
          podSelector: { matchLabels: { app: 'db' } },
          ingress: [
            {
              from: [{ namespaceSelector: { matchLabels: { team: 'web' } } }],
              ports: [{ port: 'pg' }],
            },
          ],
        },
      },
    ],
  };

  it('evaluates and explains as documented', () => {
    const r = evaluate(state, { src: 'x/a', dst: 'y/b', protocol: 'TCP', port: 80 });
    expect(r.verdict).toBe('deny');
    expect(r.explanation.summary).toBe(
      'x/a -> y/b TCP/80: DENIED. Egress: no policy selects x/a for egress; allowed by default. Ingress: y/b is isolated for ingress by NetworkPolicy y/db-from-web (selector app=db), and no ingress rule of it allows from x/a on TCP/80.',
    );
    const ev = new PolicyEvaluator(state);
    expect(ev.evaluate({ src: 'x/a', dst: 'y/b', port: 5432 }).explanation.ingress.rule).toEqual({
      kind: 'NetworkPolicy',
      namespace: 'y',
      name: 'db-from-web',
      direction: 'ingress',
      index: 0,
    });
    expect(ev.evaluate({ src: '203.0.113.9', dst: '10.244.2.7', port: 5432 }).verdict).toBe('deny');
  });

  it('validates as documented', () => {
    expect(
      validatePolicy({
        metadata: { name: 'p', namespace: 'x' },
        spec: { podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] },
      }),
    ).toEqual([
      {
        path: 'spec.ingress[0].ports[0].endPort',
        message: 'may only be set when port is a number',
      },
    ]);
  });
});
