import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Cluster } from '../../src/index.js';
import { manifestObjects, pod, runPodnet, startCluster } from './helpers.js';

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
  const files = mkdtempSync(join(tmpdir(), 'podnet-policy-'));
  afterAll(async () => {
    rmSync(files, { recursive: true, force: true });
    // podnet commands run as processes of their own changed the state on disk: tear that down
    if (cluster) cluster.state = (await Cluster.load(cluster.plan.name)).state;
    await cleanup();
  }, 120_000);

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

  /** `podnet apply` of `objects` written to a YAML file, as a user runs it. */
  async function podnetApply(name: string, objects: unknown[]): Promise<void> {
    const file = join(files, `${name}.yaml`);
    writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
    const r = await runPodnet(cluster, ['apply', file]).done;
    expect(r.code, r.stderr).toBe(0);
  }

  /** `podnet probe FROM TO:80` as a user runs it, until it exits `want` (0 connected, 1 blocked). */
  async function probeUntil(from: string, to: string, want: 0 | 1): Promise<number | null> {
    let code: number | null = null;
    await waitFor(
      async () => {
        code = (await runPodnet(cluster, ['probe', from, `${to}:80`]).done).code;
        return code === want || undefined;
      },
      { timeoutMs: 30_000, what: `podnet probe ${from} ${to}:80 to exit ${want}` },
    ).catch(() => {});
    return code;
  }

  it('podnet apply of an Admin Deny ClusterNetworkPolicy blocks what a NetworkPolicy allows; the agents log no error', async () => {
    await podnetApply('z-a-from-x', [
      policy('z-a-from-x', 'z', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Ingress'],
        ingress: [
          { from: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }], ports: [{ port: 80 }] },
        ],
      }),
    ]);
    expect(await probeUntil('x/a', 'z/a', 0)).toBe(0);
    expect(await probeUntil('y/b', 'z/a', 1)).toBe(1); // the NetworkPolicy admits x only

    await podnetApply('no-x-into-z', [
      {
        apiVersion: 'policy.networking.k8s.io/v1alpha2',
        kind: 'ClusterNetworkPolicy',
        metadata: { name: 'no-x-into-z' },
        spec: {
          tier: 'Admin',
          priority: 10,
          subject: { namespaces: { matchLabels: { ns: 'z' } } },
          ingress: [
            {
              name: 'deny-x',
              action: 'Deny',
              from: [{ namespaces: { matchLabels: { ns: 'x' } } }],
            },
          ],
        },
      },
    ]);
    expect(await probeUntil('x/a', 'z/a', 1)).toBe(1);
    expect(await probeUntil('x/b', 'z/b', 1)).toBe(1);
    expect(await probeUntil('x/a', 'x/b', 0)).toBe(0); // the rest of x is untouched
    const explained = await runPodnet(cluster, ['explain', 'x/a', 'z/a:80']).done;
    expect(explained.code).toBe(1);
    expect(explained.stdout).toMatch(/^policy .*ClusterNetworkPolicy.*no-x-into-z/m);

    const removed = await runPodnet(cluster, ['delete-policy', 'no-x-into-z']).done;
    expect(removed.code, removed.stderr).toBe(0);
    expect(await probeUntil('x/a', 'z/a', 0)).toBe(0);

    // every agent read every manifest: nothing skipped, no error logged
    for (const n of cluster.plan.nodes) {
      const log = readFileSync(join(cluster.state.runDir, 'nodes', n.name, 'agent.log'), 'utf8');
      const bad = log
        .split('\n')
        .filter(Boolean)
        .filter((l) => {
          try {
            const e = JSON.parse(l) as { level?: string; msg?: string };
            return e.level === 'error' || /skipped/.test(e.msg ?? '');
          } catch {
            return /error/i.test(l); // a line that is not the agent's own JSON
          }
        });
      expect(bad, n.name).toEqual([]);
    }
  }, 240_000);
});
