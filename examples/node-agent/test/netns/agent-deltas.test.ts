import { readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeNodeNs, TestNode } from './node-kit.js';

const SEED = Number(process.env.PODNET_DELTA_SEED ?? Date.now() % 1_000_000);
const STEPS = 45;

/** A small deterministic PRNG (mulberry32), so a failing sequence can be replayed by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Obj = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; namespace?: string };
};

/** Random Kubernetes objects from a small universe of names, so updates and deletes collide. */
function generator(rand: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const NS = ['ns-a', 'ns-b'];
  const APPS = ['web', 'db', 'cache'];
  const podIp = (i: number) => `10.244.1.${10 + i}`;
  const makers: Record<string, (i: number) => Obj> = {
    Namespace: (i) => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: NS[i % 2]!, labels: { team: pick(['red', 'blue']) } },
    }),
    Pod: (i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pod-${i}`, namespace: NS[i % 2]!, labels: { app: pick(APPS) } },
      spec: {
        nodeName: pick(['n1', 'n2']),
        containers: [{ name: 'c', ports: [{ containerPort: 80 }] }],
      },
      status: { phase: 'Running', podIP: podIp(i), podIPs: [{ ip: podIp(i) }] },
    }),
    Service: (i) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc-${i}`, namespace: NS[i % 2]! },
      spec: {
        type: pick(['ClusterIP', 'NodePort']),
        clusterIP: `10.96.1.${10 + i}`,
        clusterIPs: [`10.96.1.${10 + i}`],
        selector: { app: pick(APPS) },
        ports: [
          {
            name: 'http',
            port: pick([80, 8080]),
            targetPort: 80,
            protocol: 'TCP',
            nodePort: 30100 + i,
          },
          ...(rand() < 0.5
            ? [{ name: 'dns', port: 53, targetPort: 53, protocol: 'UDP', nodePort: 30200 + i }]
            : []),
        ],
        ...(rand() < 0.3 ? { sessionAffinity: 'ClientIP' } : {}),
      },
    }),
    EndpointSlice: (i) => {
      const svc = i % 6;
      const n = Math.floor(rand() * 4);
      return {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `svc-${svc}-${i}`,
          namespace: NS[svc % 2]!,
          labels: { 'kubernetes.io/service-name': `svc-${svc}` },
        },
        addressType: 'IPv4',
        endpoints: Array.from({ length: n }, (_, k) => ({
          addresses: [podIp((i * 3 + k) % 8)],
          conditions: { ready: rand() < 0.8, serving: true, terminating: false },
          nodeName: pick(['n1', 'n2']),
        })),
        ports: [
          { name: 'http', port: 80, protocol: 'TCP' },
          { name: 'dns', port: 53, protocol: 'UDP' },
        ],
      };
    },
    NetworkPolicy: (i) => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `np-${i}`, namespace: NS[i % 2]! },
      spec: {
        podSelector: { matchLabels: { app: pick(APPS) } },
        policyTypes: pick([['Ingress'], ['Ingress', 'Egress']]),
        ingress: [
          {
            from: [{ podSelector: { matchLabels: { app: pick(APPS) } } }],
            ports: [{ protocol: 'TCP', port: pick([80, 8080]) }],
          },
        ],
        egress: [{ to: [{ namespaceSelector: { matchLabels: { team: pick(['red', 'blue']) } } }] }],
      },
    }),
    Node: (i) => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: `n${i + 2}` },
      spec: { podCIDRs: [`10.244.${i + 2}.0/24`] },
      status: { addresses: [{ type: 'InternalIP', address: `192.168.71.${i + 10}` }] },
    }),
  };
  const counts: Record<string, number> = {
    Namespace: 2,
    Pod: 8,
    Service: 6,
    EndpointSlice: 12,
    NetworkPolicy: 3,
    Node: 3,
  };
  return {
    next(): { file: string; object?: Obj } {
      const kind = pick(Object.keys(makers));
      const i = Math.floor(rand() * counts[kind]!);
      const object = makers[kind]!(i);
      const file = `${kind.toLowerCase()}-${object.metadata.namespace ?? ''}-${object.metadata.name}.yaml`;
      return rand() < 0.25 ? { file } : { file, object };
    },
  };
}

/** Writes a file as tools/cluster does: aside, then renamed over. */
function writeAtomic(dir: string, file: string, text: string): void {
  const tmp = join(dir, `.${file}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, join(dir, file));
}

/** Drops handles and sorts set elements, keeping rule order per chain. */
function normalizeNft(json: string): string {
  if (!json.startsWith('{')) return json;
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (k !== 'handle') out[k] = strip(x);
      if (Array.isArray(out.elem)) out.elem = [...out.elem].map((e) => JSON.stringify(e)).sort();
      return out;
    }
    return v;
  };
  const raw = (JSON.parse(json) as { nftables: Record<string, unknown>[] }).nftables
    .filter((i) => !('metainfo' in i))
    .map((i) => JSON.stringify(JSON.stringify(strip(i))))
    .join('\n');
  const items = canonicalNames(raw)
    .split('\n')
    .map((l) => JSON.parse(JSON.parse(l) as string) as { rule?: { chain: string } });
  const rules = new Map<string, string[]>();
  const others: string[] = [];
  for (const i of items) {
    if (i.rule) {
      const c = i.rule.chain;
      rules.set(c, [...(rules.get(c) ?? []), JSON.stringify(i)]);
    } else others.push(JSON.stringify(i));
  }
  return JSON.stringify({ others: others.sort(), rules: [...rules.entries()].sort() }, null, 1);
}

/**
 * netpol numbers its chains and sets (`p4_in`, `s6_4`, `in10`) in the order it creates them, so
 * a table built by deltas and one built in one go may use other numbers for the same content:
 * each numbered name is renamed by the content of the objects it names (refined a few rounds, the
 * way graph canonicalisation does), then the two are compared.
 */
function canonicalNames(text: string): string {
  const owners = [...text.matchAll(/\\"(?:name|chain)\\":\\"([a-z]+\d+)(?:_[a-z0-9]*)?\\"/g)];
  const tokens = [...new Set(owners.map((m) => m[1]!))];
  if (tokens.length === 0) return text;
  const TOKEN = new RegExp(
    `\\b(${tokens.sort((a, b) => b.length - a.length).join('|')})(?=[_\\\\"])`,
    'g',
  );
  const lines = text.split('\n');
  // every line a name appears in (its own definition and every reference to it)
  const linesOf = new Map<string, string[]>();
  for (const l of lines) {
    for (const m of new Set([...l.matchAll(TOKEN)].map((x) => x[1]!))) {
      const list = linesOf.get(m) ?? [];
      list.push(l);
      linesOf.set(m, list);
    }
  }
  const prefix = (t: string) => t.replace(/\d+$/, '');
  let label = new Map(tokens.map((t) => [t, prefix(t)]));
  // colour refinement: a name's label is its prefix and the lines it is in, under the labels of
  // the names in them; equal signatures share a label
  const refine = () => {
    for (let round = 0; round < 6; round++) {
      const sig = new Map(
        tokens.map((t) => [
          t,
          `${label.get(t)}|${(linesOf.get(t) ?? [])
            .map((l) => l.replace(TOKEN, (x) => (x === t ? '@' : (label.get(x) ?? x))))
            .sort()
            .join('\n')}`,
        ]),
      );
      const ranks = [...new Set(sig.values())].sort();
      const next = new Map(tokens.map((t) => [t, `${prefix(t)}C${ranks.indexOf(sig.get(t)!)}`]));
      const same = tokens.every((t) => next.get(t) === label.get(t));
      label = next;
      if (same) break;
    }
  };
  // then individualise one name of the first tied class at a time (its members are symmetric)
  for (let i = 0; i < tokens.length; i++) {
    refine();
    const byLabel = new Map<string, string[]>();
    for (const t of tokens) byLabel.set(label.get(t)!, [...(byLabel.get(label.get(t)!) ?? []), t]);
    const tied = [...byLabel.entries()].filter(([, ts]) => ts.length > 1).sort();
    if (tied.length === 0) break;
    const t = tied[0]![1].sort()[0]!;
    label.set(t, `${label.get(t)}x`);
  }
  return text.replace(TOKEN, (x) => label.get(x) ?? x);
}

describe('deltas through the agent leave the kernel as a fresh full sync does', () => {
  let net: TestNet;
  let a: TestNode;
  let b: TestNode;
  const files = new Map<string, string>();

  beforeAll(async () => {
    net = createTestNet();
    const ulA = await net.ns('ula');
    const ulB = await net.ns('ulb');
    const nsA = await makeNodeNs(net, 'na', ulA, '192.168.71.2/24', '192.168.71.1/24');
    const nsB = await makeNodeNs(net, 'nb', ulB, '192.168.71.2/24', '192.168.71.1/24');
    const config = { nodeName: 'n1', nodeIps: ['192.168.71.2'], podCidrs: ['10.244.1.0/24'] };
    a = new TestNode(net, nsA, config);
    b = new TestNode(net, nsB, config);
    await a.start();
  });
  afterAll(async () => {
    a?.cleanup();
    b?.cleanup();
    await net.cleanup();
  });

  async function kernelState(node: TestNode): Promise<Record<string, string>> {
    const ns = node.ns;
    const sh = async (argv: string[]) => {
      const r = await net.exec(ns, argv, { allowFail: true });
      return r.code === 0 ? r.stdout : `exit ${r.code}`;
    };
    const names: string[] = [];
    for (const ns of ['ns-a', 'ns-b'])
      for (let i = 0; i < 6; i++) names.push(`svc-${i}.${ns}.svc.cluster.local`);
    const dig = await sh([
      'dig',
      '@169.254.20.10',
      '+short',
      '+time=2',
      '+tries=2',
      ...names
        .flatMap((n) => [n, `_http._tcp.${n}`])
        .flatMap((n) => ['-q', n, '-t', n.startsWith('_') ? 'SRV' : 'A']),
    ]);
    const sortLines = (s: string) => s.split('\n').sort().join('\n');
    return {
      services: normalizeNft(await sh(['nft', '-j', '-s', 'list', 'table', 'ip', 'podnet-svc'])),
      policies: normalizeNft(
        await sh(['nft', '-j', '-s', 'list', 'table', 'inet', 'podnet_netpol']),
      ),
      routes: sortLines(await sh(['ip', 'route', 'show'])),
      // tunnel entries only (the device's own MAC is random per node)
      fdb: sortLines(
        (await sh(['bridge', 'fdb', 'show', 'nud', 'permanent']))
          .split('\n')
          .filter((l) => l.includes(' dst '))
          .join('\n'),
      ),
      neigh: sortLines(await sh(['ip', 'neigh', 'show', 'nud', 'permanent'])),
      dns: sortLines(dig),
    };
  }

  it(`random add/update/delete sequences (seed ${SEED}) converge to the full-sync state`, async () => {
    const gen = generator(prng(SEED));
    const rand = prng(SEED + 1);
    const self = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n1' },
      spec: { podCIDRs: ['10.244.1.0/24'] },
      status: { addresses: [{ type: 'InternalIP', address: '192.168.71.2' }] },
    };
    writeAtomic(a.manifestsDir, 'node-n1.yaml', JSON.stringify(self));
    files.set('node-n1.yaml', JSON.stringify(self));
    for (let step = 0; step < STEPS; step++) {
      const burst = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < burst; k++) {
        const { file, object } = gen.next();
        if (object) {
          const text = JSON.stringify(object);
          files.set(file, text);
          writeAtomic(a.manifestsDir, file, text);
        } else {
          files.delete(file);
          rmSync(join(a.manifestsDir, file), { force: true });
        }
      }
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 120)));
    }
    // the fresh node reads the final state in one go
    for (const [file, text] of files) writeFileSync(join(b.manifestsDir, file), text);
    expect(readdirSync(b.manifestsDir).sort()).toEqual([...files.keys()].sort());
    await b.start();
    let last: [Record<string, string>, Record<string, string>] | undefined;
    try {
      await waitFor(
        async () => {
          last = [await kernelState(a), await kernelState(b)];
          return (
            last[1].services.includes('podnet-svc') &&
            last[1].dns.includes('10.96.') === last[0].dns.includes('10.96.') &&
            JSON.stringify(last[0]) === JSON.stringify(last[1])
          );
        },
        { timeoutMs: 30_000, what: 'the delta-fed agent to match the fresh one' },
      );
    } catch (e) {
      // show the first component that differs
      for (const k of Object.keys(last?.[0] ?? {}))
        expect({ seed: SEED, [k]: last![0][k] }).toEqual({ seed: SEED, [k]: last![1][k] });
      throw e;
    }
    expect(a.logs).toContain('"services programmed"');
    expect(a.logs).not.toContain('reconcile failed');
  });
});
