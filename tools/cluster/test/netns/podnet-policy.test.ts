import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/index.js';
import { manifestObjects, pod, startCluster } from './helpers.js';

// The upstream NetworkPolicy model: namespaces x, y, z with pods a, b, c each (spread over the
// nodes), every pod serving 80 and 81 over TCP. Each case compares the whole 9x9 matrix.
const NAMESPACES = ['x', 'y', 'z'];
const PODS = ['a', 'b', 'c'];
const ALL = NAMESPACES.flatMap((ns) => PODS.map((p) => `${ns}/${p}`));

type Expect = (from: string, to: string) => boolean;

describe('the 9-pod NetworkPolicy model on the podnet network', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const s = await startCluster('podnet');
    cluster = s.cluster;
    cleanup = s.cleanup;
    await cluster.apply(
      manifestObjects([
        ...NAMESPACES.map((ns) => ({
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: ns, labels: { ns } },
        })),
        ...NAMESPACES.flatMap((ns, i) =>
          PODS.map((p, j) =>
            pod(
              p,
              `node${((i + j) % 3) + 1}`,
              { pod: p },
              [{ containerPort: 80 }, { containerPort: 81 }],
              ns,
            ),
          ),
        ),
      ]),
    );
  }, 180_000);
  afterAll(() => cleanup(), 120_000);

  async function matrix(port: number): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    await Promise.all(
      ALL.map(async (from) => {
        const r = await cluster.probeMany(
          from,
          ALL.map((to) => ({ to, port })),
          1500,
        );
        for (const [i, to] of ALL.entries()) out.set(`${from}>${to}`, r[i]!.ok);
      }),
    );
    return out;
  }

  /** Probes until the matrix matches (policies take a moment), then returns the mismatches. */
  async function mismatches(port: number, want: Expect, timeoutMs = 30_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await matrix(port);
      const bad = [...m].filter(([k, ok]) => {
        const [from, to] = k.split('>') as [string, string];
        return ok !== want(from, to);
      });
      if (bad.length === 0 || Date.now() > deadline) {
        return bad.map(
          ([k, ok]) => `${k}:${port} ${ok ? 'open, want blocked' : 'blocked, want open'}`,
        );
      }
    }
  }

  const policy = (name: string, ns: string, spec: Record<string, unknown>) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: ns },
    spec,
  });

  it('allows everything without policies', async () => {
    expect(await mismatches(80, () => true)).toEqual([]);
  });

  it('deny-all ingress in x isolates x from everyone but itself', async () => {
    await cluster.apply(
      manifestObjects([policy('deny-all', 'x', { podSelector: {}, policyTypes: ['Ingress'] })]),
    );
    expect(await mismatches(80, (from, to) => !to.startsWith('x/') || from === to)).toEqual([]);
  });

  it('allow x/a from pods b of any namespace on 80 only, on top of deny-all', async () => {
    await cluster.apply(
      manifestObjects([
        policy('a-from-b', 'x', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [
            {
              from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }],
              ports: [{ port: 80 }],
            },
          ],
        }),
      ]),
    );
    const base: Expect = (from, to) => !to.startsWith('x/') || from === to;
    expect(
      await mismatches(80, (from, to) => base(from, to) || (to === 'x/a' && from.endsWith('/b'))),
    ).toEqual([]);
    expect(await mismatches(81, base)).toEqual([]);

    const allowed = await cluster.explain('y/b', 'x/a', 80);
    expect(allowed.verdict).toBe('allow');
    expect(allowed.steps.find((s) => s.kind === 'policy')?.detail).toContain('x/a-from-b');
    const denied = await cluster.explain('y/c', 'x/a', 80);
    expect(denied.verdict).toBe('deny');
    expect((await cluster.explain('y/b', 'x/a', 81)).verdict).toBe('deny');
    expect(denied.steps.map((s) => s.kind)).toEqual(['source', 'route', 'policy']);
  });

  it('deny-all egress in y keeps y pods inside themselves; namespaceSelector allows y to z only', async () => {
    await cluster.deleteNetworkPolicy('x', 'deny-all');
    await cluster.deleteNetworkPolicy('x', 'a-from-b');
    await cluster.apply(
      manifestObjects([
        policy('egress-to-z', 'y', {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }],
        }),
      ]),
    );
    expect(
      await mismatches(
        80,
        (from, to) => !from.startsWith('y/') || from === to || to.startsWith('z/'),
      ),
    ).toEqual([]);
  });
});
