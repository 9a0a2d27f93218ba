/**
 * @podnet/service-lb benchmark. Run: `node --conditions=source --import tsx packages/service-lb/bench/index.ts`
 * (root; it makes its own network namespaces and removes them).
 *
 * 1. Full sync of 10,000 Services × 10 endpoints and 30,000 × 3 (compile, render, one `nft -f`).
 * 2. A single-endpoint change at 1,000 vs 30,000 Services, the 30,000-Service table loaded in the
 *    kernel: time and nft operations (goal: ratio ≤ 1.5, ≤ 10 operations). Three ways, all six
 *    targets interleaved: `sync(state)` with a `nft -f` process per change (the defaults),
 *    `sync(state)` through an nft session, and `update(event)` through an nft session.
 * 3. TCP connection latency to a ClusterIP with 10,000 Services programmed vs 10 (goal: ratio ≤
 *    1.2), next to the same connection straight to the pod IP.
 * The anchor (kube-proxy's nftables mode) publishes no numbers to run beside; the goals
 * are ratios measured inside this one run.
 */
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createTestNet, type TestNet } from '@podnet/host/testing';
import {
  compileServices,
  type NodeFacts,
  renderRuleset,
  ServiceSyncer,
  type ServiceState,
} from '../src/index.js';
import { makeEndpointSlice, makeService, syntheticCluster } from '../src/testing/index.js';

const NODE: NodeFacts = { name: 'node-a', clusterCIDRs: ['10.128.0.0/9', '10.244.0.0/16'] };
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const ms = (a: number) => Math.round(a * 10) / 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

const net: TestNet = createTestNet();
process.on('exit', () => net.cleanupSync());
const results: Record<string, unknown> = {};
const rows: string[][] = [];

async function syncerIn(short: string, session = false) {
  const ns = await net.ns(short);
  return {
    ns,
    syncer: new ServiceSyncer({
      host: net.host(ns),
      node: NODE,
      nftTimeoutMs: 170_000,
      session,
    }),
  };
}

async function fullSync(services: number, endpoints: number) {
  const state = syntheticCluster(services, endpoints);
  let t = performance.now();
  const ruleset = compileServices(state, NODE);
  const compileMs = performance.now() - t;
  t = performance.now();
  const text = renderRuleset(ruleset);
  const renderMs = performance.now() - t;
  const { ns, syncer } = await syncerIn(`full${services}`);
  t = performance.now();
  const r = await syncer.sync(state);
  const syncMs = performance.now() - t;
  const out = {
    services,
    endpoints,
    compileMs: ms(compileMs),
    renderMs: ms(renderMs),
    syncMs: ms(syncMs),
    operations: r.operations,
    scriptBytes: text.length,
  };
  rows.push([
    `full sync ${services} × ${endpoints}`,
    `${ms(syncMs)} ms`,
    `compile ${ms(compileMs)} ms, render ${ms(renderMs)} ms, ${r.operations} ops, ${(text.length / 1e6).toFixed(1)} MB`,
  ]);
  return { out, state, syncer, ns };
}

interface ChangeTarget {
  label: string;
  /** `sync`: the whole state each time; `update`: the changed EndpointSlice as a watch event. */
  via: 'sync' | 'update';
  state: ServiceState;
  syncer: ServiceSyncer;
  slices: ServiceState['endpointSlices'][number][];
  at: number;
  original: ServiceState['endpointSlices'][number];
  times: number[];
  js: number[];
  ops: number[];
}

function changeTarget(
  label: string,
  state: ServiceState,
  syncer: ServiceSyncer,
  via: ChangeTarget['via'] = 'sync',
): ChangeTarget {
  const slices = [...state.endpointSlices];
  const at = Math.floor(slices.length / 2);
  const original = slices[at]!;
  return { label, via, state, syncer, slices, at, original, times: [], js: [], ops: [] };
}

/**
 * One endpoint of the middle Service removed, then put back, alternately; the targets take turns
 * (side by side, so machine load hits them alike). The first change of each is not counted.
 */
async function singleChanges(targets: ChangeTarget[], rounds: number) {
  for (let i = 0; i <= rounds; i++) {
    for (const t of i % 2 === 0 ? targets : [...targets].reverse()) {
      const s = structuredClone(t.original);
      if (i % 2 === 0) s.endpoints!.pop();
      t.slices[t.at] = s;
      const started = performance.now();
      const r =
        t.via === 'sync'
          ? await t.syncer.sync({ services: t.state.services, endpointSlices: t.slices })
          : await t.syncer.update({ endpointSlices: [s] });
      const elapsed = performance.now() - started;
      if (r.full) throw new Error(`${t.label}: expected a partial sync`);
      if (i === 0) continue;
      t.times.push(elapsed);
      t.js.push((r.durationSeconds - r.applySeconds) * 1000);
      t.ops.push(r.operations);
    }
  }
  return targets.map((t) => {
    const out = {
      medianMs: ms(median(t.times)),
      p90Ms: ms(pct(t.times, 0.9)),
      compileDiffMedianMs: ms(median(t.js)),
      maxOperations: Math.max(...t.ops),
      changes: t.times.length,
    };
    rows.push([
      `one endpoint change, ${t.label}`,
      `${out.medianMs} ms`,
      `p90 ${out.p90Ms} ms, median of ${out.changes}, ≤ ${out.maxOperations} nft ops; podnet's own part ${out.compileDiffMedianMs} ms`,
    ]);
    return out;
  });
}

/** A node with a client and one backend pod, programmed with `services` Services (one real). */
async function latencyTopology(tag: string, services: number) {
  const node = await net.ns(`${tag}node`);
  const client = await net.ns(`${tag}client`);
  const backend = await net.ns(`${tag}backend`);
  await net.exec(node, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  await net.veth(
    { ns: client, name: 'eth0', addrs: ['10.244.0.2/30'] },
    { ns: node, name: 'vc', addrs: ['10.244.0.1/30'] },
  );
  await net.veth(
    { ns: backend, name: 'eth0', addrs: ['10.244.0.6/30'] },
    { ns: node, name: 'vb', addrs: ['10.244.0.5/30'] },
  );
  await net.host(client).ipBatch([['route', 'add', 'default', 'via', '10.244.0.1']]);
  await net.host(backend).ipBatch([['route', 'add', 'default', 'via', '10.244.0.5']]);
  const server = net.spawn(backend, [process.execPath, here('./tcp-server.mjs'), '8080']);
  await once(server.stdout!, 'data');
  const filler = syntheticCluster(services - 1, 3);
  const syncer = new ServiceSyncer({ host: net.host(node), node: NODE, nftTimeoutMs: 170_000 });
  await syncer.sync({
    services: [
      makeService('bench', 'target', {
        clusterIP: '10.100.0.1',
        ports: [{ name: 'http', port: 80 }],
      }),
      ...filler.services,
    ],
    endpointSlices: [
      makeEndpointSlice('bench', 'target', [{ ip: '10.244.0.6' }], [{ name: 'http', port: 8080 }]),
      ...filler.endpointSlices,
    ],
  });
  const measure = async (host: string, port: number) => {
    const r = await net.exec(
      client,
      [process.execPath, here('./connect-latency.mjs'), host, String(port), String(PER_BATCH)],
      {
        timeoutMs: 120_000,
      },
    );
    return JSON.parse(r.stdout) as number[];
  };
  return { services, vip: [] as number[], direct: [] as number[], measure };
}

const LATENCY_ROUNDS = 20;
const PER_BATCH = 40;

async function connectLatency() {
  const small = await latencyTopology('s', 10);
  const large = await latencyTopology('l', 10_000);
  // short batches, alternating which topology goes first: drift on a shared machine lands on
  // both sides alike
  for (let round = 0; round < LATENCY_ROUNDS; round++) {
    for (const t of round % 2 === 0 ? [small, large] : [large, small]) {
      t.vip.push(...(await t.measure('10.100.0.1', 80)));
      t.direct.push(...(await t.measure('10.244.0.6', 8080)));
    }
  }
  const sum = (t: typeof small) => ({
    services: t.services,
    p50us: Math.round(median(t.vip)),
    p90us: Math.round(pct(t.vip, 0.9)),
    directP50us: Math.round(median(t.direct)),
  });
  const [a, b] = [sum(small), sum(large)];
  for (const x of [a, b]) {
    rows.push([
      `connect to ClusterIP, ${x.services.toLocaleString('en')} Services`,
      `p50 ${x.p50us} µs`,
      `p90 ${x.p90us} µs; same connection straight to the pod IP p50 ${x.directP50us} µs (${LATENCY_ROUNDS * PER_BATCH} each, interleaved)`,
    ]);
  }
  return { small: a, large: b, ratio: Math.round((b.p50us / a.p50us) * 100) / 100 };
}

async function main() {
  const started = performance.now();
  {
    const big10 = await fullSync(10_000, 10);
    results.fullSync10kx10 = big10.out;
    await net.exec(big10.ns, ['nft', 'delete', 'table', 'ip', 'podnet-svc']);
  }
  const big30 = await fullSync(30_000, 3);
  results.fullSync30kx3 = big30.out;

  const small = await syncerIn('small1k');
  const smallState = syntheticCluster(1_000, 3);
  await small.syncer.sync(smallState);
  const smallSess = await syncerIn('sess1k', true);
  await smallSess.syncer.sync(smallState);
  const bigSess = await syncerIn('sess30k', true);
  await bigSess.syncer.sync(big30.state);
  const smallEvt = await syncerIn('evt1k', true);
  await smallEvt.syncer.sync(smallState);
  const bigEvt = await syncerIn('evt30k', true);
  await bigEvt.syncer.sync(big30.state);
  const [f1k, f30k, s1k, s30k, e1k, e30k] = await singleChanges(
    [
      changeTarget('1,000 Services, sync(), nft -f', smallState, small.syncer),
      changeTarget('30,000 Services, sync(), nft -f', big30.state, big30.syncer),
      changeTarget('1,000 Services, sync(), session', smallState, smallSess.syncer),
      changeTarget('30,000 Services, sync(), session', big30.state, bigSess.syncer),
      changeTarget('1,000 Services, update(), session', smallState, smallEvt.syncer, 'update'),
      changeTarget('30,000 Services, update(), session', big30.state, bigEvt.syncer, 'update'),
    ],
    20,
  );
  for (const x of [smallSess, bigSess, smallEvt, bigEvt]) x.syncer.close();
  for (const ns of [big30.ns, bigSess.ns, bigEvt.ns]) {
    await net.exec(ns, ['nft', 'delete', 'table', 'ip', 'podnet-svc']);
  }
  const ratio = (a: number, b: number) => Math.round((a / Math.max(b, 0.1)) * 100) / 100;
  const changeRatio = ratio(f30k!.medianMs, f1k!.medianMs);
  const sessionRatio = ratio(s30k!.medianMs, s1k!.medianMs);
  const eventRatio = ratio(e30k!.medianMs, e1k!.medianMs);
  const jsRatio = ratio(f30k!.compileDiffMedianMs, f1k!.compileDiffMedianMs);
  const maxOps = Math.max(
    f1k!.maxOperations,
    f30k!.maxOperations,
    s1k!.maxOperations,
    s30k!.maxOperations,
  );
  results.singleChange = {
    at1k: f1k,
    at30k: f30k,
    ratio: changeRatio,
    session: { at1k: s1k, at30k: s30k, ratio: sessionRatio },
    sessionUpdate: { at1k: e1k, at30k: e30k, ratio: eventRatio },
    compileDiffRatio: jsRatio,
  };

  const latency = await connectLatency();
  results.connectLatency = latency;
  results.totalSeconds = Math.round((performance.now() - started) / 100) / 10;

  const width = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log('\n@podnet/service-lb benchmark\n');
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(width[i]!)).join('   ')}`);
  console.log(
    '\nratios (goal in brackets; anchor kube-proxy nftables publishes no sync numbers to run beside)',
  );
  console.log(
    `  one endpoint change, 30,000 vs 1,000 Services: ${changeRatio}  [≤ 1.5], ops ≤ ${maxOps} [≤ 10]`,
  );
  console.log(`    sync() through an nft session:              ${sessionRatio}`);
  console.log(`    update() (watch event) through a session:   ${eventRatio}`);
  console.log(`    podnet's own part of sync() (scan, diff, render): ${jsRatio}`);
  console.log(`  ClusterIP connect p50, 10,000 vs 10 Services:   ${latency.ratio}  [≤ 1.2]`);
  console.log(`  total ${results.totalSeconds} s`);
  const dir = fileURLToPath(new URL('../../../bench-results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}service-lb.json`, `${JSON.stringify(results, null, 2)}\n`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => net.cleanup());
