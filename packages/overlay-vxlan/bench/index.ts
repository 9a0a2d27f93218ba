/**
 * Benchmark for @podnet/overlay-vxlan, run as
 *   node --conditions=source --import tsx packages/overlay-vxlan/bench/index.ts
 * Throughput: iperf3 single TCP stream pod→pod through our VXLAN vs the same pods over a bare kernel
 * vxlan device with static routes between the same node namespaces (and node→node over it); pod→pod through DirectRouting vs node→node over
 * the underlay. Reconcile: 1,000 peers from empty, one peer changed among 1,000 (and among 10).
 * Writes bench-results/overlay-vxlan.json at the repo root.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestNet, type TestNet } from '@podnet/host/testing';
import {
  type LocalNode,
  OverlayReconciler,
  type PeerNode,
  ensureOverlay,
  planOverlay,
  readOverlayState,
} from '../src/index.js';
import { syntheticPeers } from '../src/testing/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const SECONDS = 2;

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

async function iperf(
  net: TestNet,
  client: string,
  server: string,
  serverIP: string,
): Promise<number> {
  const srv = net.spawn(server, ['iperf3', '-s', '-1', '-p', '5201']);
  const exited = new Promise((r) => srv.once('exit', r));
  try {
    for (let i = 0; ; i++) {
      const r = await net.exec(
        client,
        ['iperf3', '-c', serverIP, '-p', '5201', '-t', String(SECONDS), '-J'],
        {
          allowFail: true,
          timeoutMs: (SECONDS + 20) * 1000,
        },
      );
      const j =
        r.code === 0
          ? (JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second: number } } })
          : {};
      const bps = j.end?.sum_received?.bits_per_second;
      if (bps) return bps / 1e9;
      if (i > 40) throw new Error(`iperf3 ${client} → ${serverIP} failed: ${r.stdout}${r.stderr}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    srv.kill('SIGKILL');
    await exited;
  }
}

async function throughput(net: TestNet) {
  const nA = await net.ns('ta');
  const nB = await net.ns('tb');
  await net.veth(
    { ns: nA, name: 'eth0', addrs: ['192.168.50.1/24'] },
    { ns: nB, name: 'eth0', addrs: ['192.168.50.2/24'] },
  );
  const pods: string[] = [];
  for (const [ns, idx] of [
    [nA, 1],
    [nB, 2],
  ] as const) {
    const pod = await net.ns(`tp${idx}`);
    await net.veth(
      { ns, name: 'vpod', addrs: [`10.244.${idx}.1/24`] },
      { ns: pod, name: 'eth0', addrs: [`10.244.${idx}.2/24`] },
    );
    await net.host(pod).ipBatch([['route', 'add', 'default', 'via', `10.244.${idx}.1`]]);
    await net.exec(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    pods.push(pod);
  }
  const [pA, pB] = pods as [string, string];
  // The anchor: a bare point-to-point kernel vxlan device between the same node namespaces.
  for (const [ns, me, other] of [
    [nA, '1', '2'],
    [nB, '2', '1'],
  ] as const) {
    await net.host(ns).ipBatch([
      [
        'link',
        'add',
        'bare',
        'type',
        'vxlan',
        'id',
        '77',
        'remote',
        `192.168.50.${other}`,
        'local',
        `192.168.50.${me}`,
        'dev',
        'eth0',
        'dstport',
        '4790',
      ],
      ['addr', 'add', `172.30.0.${me}/24`, 'dev', 'bare'],
      ['link', 'set', 'bare', 'up'],
    ]);
  }
  const local = (
    name: string,
    ip: string,
    idx: number,
    directRouting: 'never' | 'auto',
  ): LocalNode => ({
    nodeName: name,
    uplink: 'eth0',
    nodeIPs: [ip],
    podCIDRs: [`10.244.${idx}.0/24`],
    directRouting,
  });
  const peer = (name: string, ip: string, idx: number): PeerNode => ({
    nodeName: name,
    nodeIPs: [ip],
    podCIDRs: [`10.244.${idx}.0/24`],
  });
  const setMode = async (mode: 'never' | 'auto') => {
    await ensureOverlay(net.host(nA), local('bench-a', '192.168.50.1', 1, mode), [
      peer('bench-b', '192.168.50.2', 2),
    ]);
    await ensureOverlay(net.host(nB), local('bench-b', '192.168.50.2', 2, mode), [
      peer('bench-a', '192.168.50.1', 1),
    ]);
    await net.waitForPing(pA, '10.244.2.2', 20_000);
  };
  const bareRoutes = async (on: boolean) => {
    for (const [ns, other] of [
      [nA, 2],
      [nB, 1],
    ] as const) {
      await net
        .host(ns)
        .ipBatch([
          on
            ? [
                'route',
                'replace',
                `10.244.${other}.0/24`,
                'via',
                `172.30.0.${other}`,
                'dev',
                'bare',
              ]
            : ['route', 'del', `10.244.${other}.0/24`, 'dev', 'bare'],
        ]);
    }
  };
  const rounds = 4;
  const r = {
    ours: [] as number[],
    barePods: [] as number[],
    bare: [] as number[],
    direct: [] as number[],
    underlay: [] as number[],
  };
  for (let i = 0; i < rounds; i++) {
    await setMode('never');
    r.ours.push(await iperf(net, pA, pB, '10.244.2.2'));
    await bareRoutes(true);
    await net.waitForPing(pA, '10.244.2.2', 20_000);
    r.barePods.push(await iperf(net, pA, pB, '10.244.2.2'));
    await bareRoutes(false);
    r.bare.push(await iperf(net, nA, nB, '172.30.0.2'));
    await setMode('auto');
    r.direct.push(await iperf(net, pA, pB, '10.244.2.2'));
    r.underlay.push(await iperf(net, nA, nB, '192.168.50.2'));
  }
  return {
    ours: median(r.ours),
    barePods: median(r.barePods),
    bare: median(r.bare),
    direct: median(r.direct),
    underlay: median(r.underlay),
    samples: r,
  };
}

async function reconcile(net: TestNet) {
  const node = await net.ns('rn');
  const far = await net.ns('rf');
  await net.veth(
    { ns: node, name: 'eth0', addrs: ['172.31.0.1/16'] },
    { ns: far, name: 'eth0', addrs: ['172.31.255.254/16'] },
  );
  const local: LocalNode = {
    nodeName: 'bench-local',
    uplink: 'eth0',
    nodeIPs: ['172.31.0.1'],
    podCIDRs: ['10.99.0.0/24'],
    directRouting: 'never',
  };
  const host = net.host(node);
  const out: Record<string, number> = {};

  const fromEmpty: number[] = [];
  const peers1000 = syntheticPeers(1000);
  for (let i = 0; i < 3; i++) {
    await host.ipBatch([['link', 'del', 'podnet.1']]).catch(() => {});
    const t = performance.now();
    await new OverlayReconciler(host, local).sync(peers1000);
    fromEmpty.push(performance.now() - t);
  }
  out.fromEmpty1000Ms = median(fromEmpty);
  const observed = await readOverlayState(host, local);
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) planOverlay(local, peers1000, observed);
  out.planOnly1000Ms = (performance.now() - t0) / 20;
  const tr = performance.now();
  for (let i = 0; i < 5; i++) await readOverlayState(host, local);
  out.read1000Ms = (performance.now() - tr) / 5;
  const tn = performance.now();
  await ensureOverlay(host, local, peers1000);
  out.ensureNoop1000Ms = performance.now() - tn;

  // per change: one ip/bridge process per batch, or the long-lived sessions the node agent uses
  for (const [mode, suffix] of [
    ['processes', ''],
    ['sessions', 'Session'],
  ] as const)
    for (const count of [10, 1000]) {
      await host.ipBatch([['link', 'del', 'podnet.1']]).catch(() => {});
      const peers = syntheticPeers(count);
      const r = new OverlayReconciler(host, local, { sessions: mode === 'sessions' });
      await r.sync(peers);
      const change: number[] = [];
      const addRemove: number[] = [];
      for (let i = 0; i < 30; i++) {
        const k = (i * 7) % count;
        const moved = peers.map((p, j) =>
          j === k ? { ...p, nodeIPs: [`172.31.250.${(i % 200) + 1}`] } : p,
        );
        let t = performance.now();
        await r.sync(moved);
        change.push(performance.now() - t);
        t = performance.now();
        await r.sync(peers.filter((_, j) => j !== k));
        await r.sync(peers);
        addRemove.push((performance.now() - t) / 2);
      }
      r.close();
      out[`onePeerChangedIp${suffix}${count}Ms`] = median(change);
      out[`onePeerAddOrRemove${suffix}${count}Ms`] = median(addRemove);
    }
  return out;
}

async function main() {
  const net = createTestNet();
  try {
    const tp = await throughput(net);
    const rc = await reconcile(net);
    const ratioVxlan = tp.ours / tp.barePods;
    const ratioDirect = tp.direct / tp.underlay;
    const rows: [string, string, string][] = [
      ['pod→pod through our VXLAN', `${tp.ours.toFixed(2)} Gbit/s`, ''],
      [
        'same pods over a bare kernel vxlan + static routes (anchor)',
        `${tp.barePods.toFixed(2)} Gbit/s`,
        `ratio ${ratioVxlan.toFixed(2)} (goal ≥ 0.9)`,
      ],
      [
        'node→node over that bare vxlan (no pod hop; reference)',
        `${tp.bare.toFixed(2)} Gbit/s`,
        `ours / this ${(tp.ours / tp.bare).toFixed(2)}`,
      ],
      ['pod→pod through DirectRouting', `${tp.direct.toFixed(2)} Gbit/s`, ''],
      [
        'node→node over the underlay (anchor)',
        `${tp.underlay.toFixed(2)} Gbit/s`,
        `ratio ${ratioDirect.toFixed(2)} (goal ≥ 0.9)`,
      ],
      [
        'reconcile 1,000 peers from empty (read+plan+apply)',
        `${rc.fromEmpty1000Ms!.toFixed(1)} ms`,
        '',
      ],
      ['  plan only, 1,000 peers', `${rc.planOnly1000Ms!.toFixed(2)} ms`, ''],
      ['  read kernel state, 1,000 peers', `${rc.read1000Ms!.toFixed(1)} ms`, ''],
      [
        'ensureOverlay no-op, 1,000 peers (read+plan, 0 processes)',
        `${rc.ensureNoop1000Ms!.toFixed(1)} ms`,
        '',
      ],
      ...(['', 'Session'] as const).flatMap((m): [string, string, string][] => {
        const how = m ? ', sessions' : ', a process per batch';
        return [
          [
            `one peer changed IP among 10${how}`,
            `${rc[`onePeerChangedIp${m}10Ms`]!.toFixed(2)} ms`,
            '',
          ],
          [
            `one peer changed IP among 1,000${how}`,
            `${rc[`onePeerChangedIp${m}1000Ms`]!.toFixed(2)} ms`,
            `goal < 10 ms; ×${(rc[`onePeerChangedIp${m}1000Ms`]! / rc[`onePeerChangedIp${m}10Ms`]!).toFixed(2)} of the 10-peer time`,
          ],
          [
            `one peer added/removed among 10${how}`,
            `${rc[`onePeerAddOrRemove${m}10Ms`]!.toFixed(2)} ms`,
            '',
          ],
          [
            `one peer added/removed among 1,000${how}`,
            `${rc[`onePeerAddOrRemove${m}1000Ms`]!.toFixed(2)} ms`,
            `goal < 10 ms; ×${(rc[`onePeerAddOrRemove${m}1000Ms`]! / rc[`onePeerAddOrRemove${m}10Ms`]!).toFixed(2)} of the 10-peer time`,
          ],
        ];
      }),
    ];
    const w = Math.max(...rows.map((r) => r[0].length));
    console.log(
      '\n@podnet/overlay-vxlan benchmark (iperf3 single stream, medians of 4 interleaved rounds)',
    );
    console.log(
      `load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} on ${cpus().length} cores\n`,
    );
    for (const [name, value, note] of rows)
      console.log(`${name.padEnd(w)}  ${value.padStart(14)}  ${note}`);
    mkdirSync(join(root, 'bench-results'), { recursive: true });
    writeFileSync(
      join(root, 'bench-results/overlay-vxlan.json'),
      `${JSON.stringify({ loadavg: loadavg(), throughputGbps: tp, ratios: { vxlanVsBareVxlan: ratioVxlan, directVsUnderlay: ratioDirect }, reconcileMs: rc }, null, 2)}\n`,
    );
  } finally {
    await net.cleanup();
  }
}

await main();
