/**
 * @podnet/netpol benchmark. Run: `node --conditions=source --import tsx packages/netpol/bench/index.ts`
 * (root; it makes its own network namespaces and removes them).
 *
 * 1. Compile + apply 1,000 NetworkPolicies over 5,000 pods (pure compile, one `nft -f`).
 * 2. One pod-label change: compile delta + apply through a long-lived `nft -i` (NftSession, as
 *    PolicySyncer does), with 1,000 policies vs 10 vs 1,000 without ipBlocks, next to the same
 *    change at 1,000 policies through one `nft -f` per change (the earlier way) and the floor of
 *    either way (one element moved in a 2-set table), measured interleaved round by round
 *    (goal < 20 ms, ratio ~1: independent of the policy count).
 * 3. New-connection rate to a pod governed by policies vs no policies (goal ≥ 0.9), measured side
 *    by side: (a) the 1,000-policy / 5,000-pod ruleset loaded, the server selected by its own
 *    namespace's policies; (b) worst case: all 1,000 policies select the server and only the
 *    last one allows the client.
 * 4. Added latency per new connection (median with policies minus median without; goal ≤ 20 µs),
 *    printed next to kube-network-policies' published ~100 µs userspace (NFQUEUE) verdict — a
 *    published figure, since that anchor cannot run here.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NftSession } from '@podnet/host';
import { createTestNet, type TestNet } from '@podnet/host/testing';
import {
  type ClusterState,
  NetpolCompiler,
  type NetworkPolicy,
  type Pod,
  PolicySyncer,
} from '../src/index.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const r1 = (a: number) => Math.round(a * 10) / 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const KNP_PUBLISHED_US = 100;

const net: TestNet = createTestNet();
process.on('exit', () => net.cleanupSync());
const results: Record<string, unknown> = {};
const rows: string[][] = [];

const NS = 50;
const PODS_PER_NS = 100;

function podIp(n: number, i: number) {
  return `10.${100 + Math.floor(n / 4)}.${(n % 4) * 60 + Math.floor(i / 250)}.${(i % 250) + 2}`;
}

function syntheticCluster(policies: number, ipBlocks = true): ClusterState {
  const namespaces = Array.from({ length: NS }, (_, n) => ({
    metadata: { name: `ns${n}`, labels: { team: `t${n % 5}` } },
  }));
  const pods: Pod[] = [];
  for (let n = 0; n < NS; n++) {
    for (let i = 0; i < PODS_PER_NS; i++) {
      pods.push({
        metadata: {
          name: `pod${i}`,
          namespace: `ns${n}`,
          labels: { app: `app${i % 10}`, role: `r${i % 4}` },
        },
        spec: {
          nodeName: 'node-1',
          containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }],
        },
        status: { podIP: podIp(n, i), hostIP: '10.99.0.1' },
      });
    }
  }
  const networkPolicies: NetworkPolicy[] = [];
  for (let j = 0; j < policies; j++) {
    const n = j % NS;
    networkPolicies.push({
      metadata: { namespace: `ns${n}`, name: `p${String(j).padStart(4, '0')}` },
      spec: {
        podSelector: { matchLabels: { app: `app${j % 10}` } },
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { team: `t${(n + j) % 5}` } },
                podSelector: { matchLabels: { role: `r${j % 4}` } },
              },
              ...(ipBlocks
                ? [{ ipBlock: { cidr: '192.168.0.0/16', except: [`192.168.${j % 256}.0/24`] } }]
                : []),
            ],
            ports: [{ port: 8000 + (j % 100) }, { port: 'http' }],
          },
        ],
      },
    });
  }
  return { namespaces, pods, networkPolicies };
}

async function nodeNs(short: string) {
  const ns = await net.ns(short);
  return ns;
}

// ---- 1. compile + apply -------------------------------------------------------------------
async function compileAndApply() {
  const state = syntheticCluster(1000);
  let t = performance.now();
  const compiler = new NetpolCompiler().load(state);
  const script = compiler.takeScript();
  const compileMs = performance.now() - t;
  const ns = await nodeNs('full');
  t = performance.now();
  await net.host(ns).nftApply(script, { timeoutMs: 170_000 });
  const applyMs = performance.now() - t;
  const rs = compiler.ruleset();
  const elements =
    rs.sets.reduce((n, s) => n + s.elements.length, 0) +
    rs.maps.reduce((n, m) => n + m.elements.length, 0);
  results.fullSync = {
    policies: 1000,
    pods: 5000,
    compileMs: r1(compileMs),
    applyMs: r1(applyMs),
    scriptLines: script.split('\n').length,
    sets: rs.sets.length,
    chains: rs.chains.length,
    elements,
  };
  rows.push(['compile 1,000 policies / 5,000 pods', `${r1(compileMs)} ms`, '', '']);
  rows.push([
    'apply (one nft -f)',
    `${r1(applyMs)} ms`,
    `${rs.chains.length} chains, ${elements} elements`,
    '',
  ]);
  return { compiler, ns, state };
}

// ---- 2. label change ------------------------------------------------------------------------
interface LabelCtx {
  compiler: NetpolCompiler;
  ns: string;
  state: ClusterState;
}

const sessions: NftSession[] = [];
/** Applies a script in `ns` through a long-lived `nft -i` ('session') or one `nft -f` ('file'). */
function applier(ns: string, via: 'session' | 'file') {
  if (via === 'file') return (script: string) => net.host(ns).nftApply(script);
  const session = new NftSession({ netns: { name: ns } });
  sessions.push(session);
  return (script: string) => session.apply(script);
}

async function labelCtx(policies: number, ipBlocks = true, tag = ''): Promise<LabelCtx> {
  const state = syntheticCluster(policies, ipBlocks);
  const compiler = new NetpolCompiler().load(state);
  const ns = await nodeNs(`lab${policies}${ipBlocks ? 'b' : 'n'}${tag}`);
  await net.host(ns).nftApply(compiler.takeScript(), { timeoutMs: 170_000 });
  return { compiler, ns, state };
}

/**
 * One label change of pod 123 (compile delta + `nft -f`): total and compile-only ms, lines; null
 * when the change moves the pod in no set of this cluster (empty script, nothing applied).
 */
async function labelStep(ctx: LabelCtx, k: number, apply: (script: string) => Promise<void>) {
  const pod = ctx.state.pods[123] as Pod;
  const labels = { app: `app${(k + 4) % 10}`, role: `r${k % 4}` };
  const t = performance.now();
  ctx.compiler.upsertPod({ ...pod, metadata: { ...pod.metadata, labels } });
  const script = ctx.compiler.takeScript();
  const compileMs = performance.now() - t;
  if (script === '') return null;
  await apply(script);
  return { ms: performance.now() - t, compileMs, lines: script.split('\n').length - 1 };
}

/** The floor of any apply: one `nft -f` moving one address between two sets of an otherwise empty table. */
async function floorCtx(via: 'session' | 'file') {
  const ns = await nodeNs(`floor${via[0]}`);
  const apply = applier(ns, via);
  const t = 'inet podnet_floor';
  await net
    .host(ns)
    .nftApply(
      `add table ${t}\nadd set ${t} a { type ipv4_addr; }\nadd set ${t} b { type ipv4_addr; }\nadd element ${t} a { 10.0.0.1 }\n`,
    );
  return async (k: number) => {
    const [from, to] = k % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
    const s = performance.now();
    await apply(`delete element ${t} ${from} { 10.0.0.1 }\nadd element ${t} ${to} { 10.0.0.1 }\n`);
    return performance.now() - s;
  };
}

const LABEL_ROUNDS = 60;

/**
 * Label changes at 1,000 policies, 10 policies, 1,000 without ipBlocks, and the empty-table
 * floor, interleaved round by round so that machine load hits all four alike; medians.
 */
async function labelChanges(full: LabelCtx) {
  const ctxs = {
    big: full,
    small: await labelCtx(10),
    noBlocks: await labelCtx(1000, false),
    bigFile: await labelCtx(1000, true, 'f'),
  };
  const apply = {
    big: applier(ctxs.big.ns, 'session'),
    small: applier(ctxs.small.ns, 'session'),
    noBlocks: applier(ctxs.noBlocks.ns, 'session'),
    bigFile: applier(ctxs.bigFile.ns, 'file'),
  };
  const floor = await floorCtx('session');
  const floorFile = await floorCtx('file');
  const ms = {
    big: [] as number[],
    small: [] as number[],
    noBlocks: [] as number[],
    bigFile: [] as number[],
  };
  const compileMs = { big: [] as number[], small: [] as number[] };
  const lines = {
    big: [] as number[],
    small: [] as number[],
    noBlocks: [] as number[],
    bigFile: [] as number[],
  };
  const floorMs: number[] = [];
  const floorFileMs: number[] = [];
  for (let k = 0; k < LABEL_ROUNDS; k++) {
    for (const key of ['big', 'small', 'noBlocks', 'bigFile'] as const) {
      const r = await labelStep(ctxs[key], k, apply[key]);
      if (!r) continue;
      ms[key].push(r.ms);
      if (key === 'big' || key === 'small') compileMs[key].push(r.compileMs);
      lines[key].push(r.lines);
    }
    floorMs.push(await floor(k));
    floorFileMs.push(await floorFile(k));
  }
  for (const s of sessions.splice(0)) s.close();
  return {
    big: median(ms.big),
    small: median(ms.small),
    noBlocks: median(ms.noBlocks),
    bigFile: median(ms.bigFile),
    floor: median(floorMs),
    floorFile: median(floorFileMs),
    compileBig: median(compileMs.big),
    compileSmall: median(compileMs.small),
    lines: { big: median(lines.big), small: median(lines.small), noBlocks: median(lines.noBlocks) },
    applied: {
      big: ms.big.length,
      small: ms.small.length,
      noBlocks: ms.noBlocks.length,
      bigFile: ms.bigFile.length,
    },
  };
}

// ---- 3/4. connection rate and latency -------------------------------------------------------
async function connTopology() {
  const node = await nodeNs('cnode');
  await net.exec(node, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  const gw = '10.99.0.1';
  const mk = async (short: string, ip: string, dev: string) => {
    const ns = await net.ns(short);
    await net.veth(
      { ns: node, name: dev, addrs: [`${gw}/32`] },
      { ns, name: 'eth0', addrs: [`${ip}/32`] },
    );
    await net.host(ns).ipBatch([
      ['route', 'add', gw, 'dev', 'eth0', 'scope', 'link'],
      ['route', 'add', 'default', 'via', gw, 'dev', 'eth0'],
    ]);
    await net.host(node).ipBatch([['route', 'add', `${ip}/32`, 'dev', dev]]);
    const srv = net.spawn(ns, [process.execPath, here('hello-server.mjs'), '8080']);
    await new Promise<void>((resolve) => srv.stdout?.once('data', () => resolve()));
    return ns;
  };
  const ips = {
    client: podIp(7, 3),
    open: '10.120.0.2',
    governed: podIp(0, 0),
    worst: '10.120.0.3',
  };
  const client = await mk('cli', ips.client, 'vcli');
  await mk('sopen', ips.open, 'vsopen');
  await mk('sgov', ips.governed, 'vsgov');
  await mk('sworst', ips.worst, 'vsworst');
  return { node, client, ips };
}

interface ClientResult {
  count: number;
  totalUs: number;
  medianUs: number;
}

/** Connects round-robin to every target for `ms`; per target: count, time spent, median latency. */
async function runClient(client: string, targets: string[], ms: number): Promise<ClientResult[]> {
  const child = spawn(
    'nsenter',
    [
      `--net=/run/netns/${client}`,
      '--',
      process.execPath,
      here('conn-client.mjs'),
      targets.join(','),
      '8080',
      String(ms),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  await new Promise((r) => child.once('exit', r));
  const j = JSON.parse(out) as { latenciesUs: number[][] };
  return j.latenciesUs.map((l) => ({
    count: l.length,
    totalUs: l.reduce((a, b) => a + b, 0),
    medianUs: median(l),
  }));
}

/** The benchmark's cluster plus the connection-test pods: one no policy selects, one governed, one all 1,000 select. */
function connState(base: ClusterState, worstPolicies: boolean): ClusterState {
  const pod = (name: string, ns: string, ip: string, labels: Record<string, string>): Pod => ({
    metadata: { name, namespace: ns, labels },
    spec: { containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: { podIP: ip, hostIP: '10.99.0.1' },
  });
  const allowClient: NetworkPolicy = {
    metadata: { namespace: 'ns0', name: 'allow-client' },
    spec: {
      podSelector: { matchLabels: { app: 'app0' } },
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { team: 't2' } },
              podSelector: { matchLabels: { role: 'r3' } },
            },
          ],
          ports: [{ port: 'http' }],
        },
      ],
    },
  };
  const worst: NetworkPolicy[] = worstPolicies
    ? Array.from({ length: 1000 }, (_, j) => ({
        metadata: { namespace: 'wns', name: `w${String(j).padStart(4, '0')}` },
        spec: {
          podSelector: {},
          ingress: [
            {
              from: [
                {
                  namespaceSelector: { matchLabels: { team: j === 999 ? 't2' : `none${j}` } },
                  podSelector: { matchLabels: { role: 'r3' } },
                },
              ],
              ports: [{ port: j === 999 ? 8080 : 9000 + (j % 100) }],
            },
          ],
        },
      }))
    : [];
  return {
    namespaces: [...base.namespaces, { metadata: { name: 'open' } }, { metadata: { name: 'wns' } }],
    pods: [...base.pods, pod('srv', 'open', '10.120.0.2', {}), pod('srv', 'wns', '10.120.0.3', {})],
    networkPolicies: [...(base.networkPolicies ?? []), allowClient, ...worst],
  };
}

const progress = (what: string) => process.stderr.write(`  ... ${what}\n`);

async function main() {
  const t0 = performance.now();
  progress('compile + apply 1,000 policies over 5,000 pods');
  const full = await compileAndApply();
  progress('label changes');
  const lc = await labelChanges(full);
  results.labelChange = {
    rounds: LABEL_ROUNDS,
    policies1000: { medianMs: r1(lc.big), scriptLines: lc.lines.big, applied: lc.applied.big },
    policies10: { medianMs: r1(lc.small), scriptLines: lc.lines.small, applied: lc.applied.small },
    ratio: r1((lc.big / lc.small) * 100) / 100,
    policies1000NoIpBlocks: {
      medianMs: r1(lc.noBlocks),
      scriptLines: lc.lines.noBlocks,
      applied: lc.applied.noBlocks,
    },
    policies1000NftF: { medianMs: r1(lc.bigFile), applied: lc.applied.bigFile },
    ratioSessionVsNftF: r1((lc.big / lc.bigFile) * 100) / 100,
    nftFloorMs: r1(lc.floor),
    nftFFloorMs: r1(lc.floorFile),
    compileOnlyMs: {
      policies1000: Math.round(lc.compileBig * 100) / 100,
      policies10: Math.round(lc.compileSmall * 100) / 100,
    },
    goalMs: 20,
  };
  rows.push([
    'one pod-label change, 1,000 policies (nft -i)',
    `${r1(lc.big)} ms`,
    `${lc.lines.big} nft lines, ${lc.applied.big}/${LABEL_ROUNDS} applied`,
    `goal < 20 ms: ${lc.big < 20 ? 'met' : 'missed'}`,
  ]);
  rows.push([
    'one pod-label change, 10 policies',
    `${r1(lc.small)} ms`,
    `${lc.lines.small} lines, ${lc.applied.small}/${LABEL_ROUNDS}; ratio 1000/10 = ${r1(lc.big / lc.small)}`,
    '',
  ]);
  rows.push([
    'one pod-label change, 1,000 policies, no ipBlocks',
    `${r1(lc.noBlocks)} ms`,
    `${lc.lines.noBlocks} lines, ${lc.applied.noBlocks}/${LABEL_ROUNDS} applied`,
    `goal < 20 ms: ${lc.noBlocks < 20 ? 'met' : 'missed'}`,
  ]);
  rows.push([
    'one pod-label change, 1,000 policies (nft -f)',
    `${r1(lc.bigFile)} ms`,
    `one nft process per change; nft -i / nft -f = ${r1((lc.big / lc.bigFile) * 100) / 100}`,
    '',
  ]);
  rows.push([
    '  floor: same change, table of 2 sets, nft -i',
    `${r1(lc.floor)} ms`,
    'write file + include + commit + end marker',
    '',
  ]);
  rows.push([
    '  floor: same change, table of 2 sets, nft -f',
    `${r1(lc.floorFile)} ms`,
    'nft process + commit + socket close',
    '',
  ]);
  rows.push([
    '  of which compile, 1,000 vs 10 policies',
    `${Math.round(lc.compileBig * 100) / 100} ms`,
    `${Math.round(lc.compileSmall * 100) / 100} ms`,
    '',
  ]);

  progress('connection rate and latency');
  const { node, client, ips } = await connTopology();
  const base = syntheticCluster(1000);
  const syncer = new PolicySyncer({ host: net.host(node), log: false });
  // A: interleaved in one client loop, one table (2,001 policies): a pod no policy selects vs the
  //    governed pod vs the pod all 1,000 "w" policies select. Same moment, same noise.
  await syncer.sync(connState(base, true));
  const inter: ClientResult[][] = [];
  for (let round = 0; round < 3; round++)
    inter.push(await runClient(client, [ips.open, ips.governed, ips.worst], 1500));
  // B: no table at all vs the 1,000-policy table (governed server), alternating.
  const seq: { none: ClientResult[]; gov: ClientResult[] } = { none: [], gov: [] };
  for (let round = 0; round < 3; round++) {
    await syncer.teardown();
    seq.none.push(...(await runClient(client, [ips.governed], 1000)));
    await syncer.sync(connState(base, false));
    seq.gov.push(...(await runClient(client, [ips.governed], 1000)));
  }
  await syncer.teardown();
  const sum = (rs: ClientResult[]) => ({
    rate: (rs.reduce((a, r) => a + r.count, 0) / rs.reduce((a, r) => a + r.totalUs, 0)) * 1e6,
    medianUs: median(rs.map((r) => r.medianUs)),
  });
  const open = sum(inter.map((r) => r[0] as ClientResult));
  const gov = sum(inter.map((r) => r[1] as ClientResult));
  const worst = sum(inter.map((r) => r[2] as ClientResult));
  const none = sum(seq.none);
  const gov2 = sum(seq.gov);
  const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
  results.connections = {
    interleaved: {
      unselectedPod: { ratePerS: Math.round(open.rate), medianUs: r1(open.medianUs) },
      governedPod: {
        ratePerS: Math.round(gov.rate),
        medianUs: r1(gov.medianUs),
        rateRatio: ratio(gov.rate, open.rate),
        addedUs: r1(gov.medianUs - open.medianUs),
      },
      podSelectedBy1000: {
        ratePerS: Math.round(worst.rate),
        medianUs: r1(worst.medianUs),
        rateRatio: ratio(worst.rate, open.rate),
        addedUs: r1(worst.medianUs - open.medianUs),
      },
    },
    noTableVsTable: {
      none: { ratePerS: Math.round(none.rate), medianUs: r1(none.medianUs) },
      policies1000: {
        ratePerS: Math.round(gov2.rate),
        medianUs: r1(gov2.medianUs),
        rateRatio: ratio(gov2.rate, none.rate),
        addedUs: r1(gov2.medianUs - none.medianUs),
      },
    },
    goals: { rateRatio: 0.9, addedUs: 20 },
    kubeNetworkPoliciesPublishedUs: KNP_PUBLISHED_US,
  };
  const verdict = (ok: boolean) => (ok ? 'met' : 'missed');
  rows.push([
    'new conns/s, pod no policy selects (interleaved)',
    `${Math.round(open.rate)}/s`,
    `median ${r1(open.medianUs)} µs`,
    '',
  ]);
  rows.push([
    'new conns/s, governed pod (interleaved)',
    `${Math.round(gov.rate)}/s`,
    `ratio ${ratio(gov.rate, open.rate)}`,
    `goal ≥ 0.9: ${verdict(gov.rate / open.rate >= 0.9)}`,
  ]);
  rows.push([
    'new conns/s, pod all 1,000 select (interleaved)',
    `${Math.round(worst.rate)}/s`,
    `ratio ${ratio(worst.rate, open.rate)}`,
    `goal ≥ 0.9: ${verdict(worst.rate / open.rate >= 0.9)}`,
  ]);
  rows.push([
    'new conns/s, no table vs 1,000-policy table',
    `${Math.round(none.rate)} vs ${Math.round(gov2.rate)}/s`,
    `ratio ${ratio(gov2.rate, none.rate)}`,
    `goal ≥ 0.9: ${verdict(gov2.rate / none.rate >= 0.9)}`,
  ]);
  for (const [what, a, b] of [
    ['governed pod (interleaved)', gov.medianUs, open.medianUs],
    ['pod all 1,000 select (interleaved)', worst.medianUs, open.medianUs],
    ['no table vs 1,000-policy table', gov2.medianUs, none.medianUs],
  ] as const) {
    const added = a - b;
    rows.push([
      `added latency, ${what}`,
      `${r1(added)} µs`,
      `kube-network-policies ~${KNP_PUBLISHED_US} µs (published): ${r1(added / KNP_PUBLISHED_US)}x`,
      `goal ≤ 20 µs: ${verdict(added <= 20)}`,
    ]);
  }

  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  console.log('\n@podnet/netpol benchmark');
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  '));
  results.totalSeconds = r1((performance.now() - t0) / 1000);
  const dir = fileURLToPath(new URL('../../../bench-results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}netpol.json`, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote bench-results/netpol.json (${results.totalSeconds} s)`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => net.cleanupSync());
