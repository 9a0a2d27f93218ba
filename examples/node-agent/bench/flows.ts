/**
 * Flow records benchmark (issue #17), in one node namespace with 1,000 NetworkPolicies:
 * A. new-connection rate to a policy-governed pod with verdict logging and flow export OFF
 *    (`log: false`, no capture) vs ON (drops logged to NFLOG, the agent's capture + recorder +
 *    a streaming reader running) vs ON with the governing policy's accepts logged too
 *    (`podnet.io/log-allowed`: one record per new connection), alternated round by round
 *    (goal: ON >= 0.9x OFF);
 * B. a storm of 10,000 denied UDP packets per second for 10 s at a pod isolated by a deny-all
 *    policy, with the agent's default log rate limit (1,000 records/s, burst 1,000; the kernel
 *    counts what it suppresses, the agent reads that counter once a second) and without a limit:
 *    records delivered to the reader, rate-limited (counted), lost before the capture read them
 *    (the kernel's NFLOG socket, counted), and anything unaccounted; the CPU of the agent's side
 *    (this process's recorder + reader + counter poller, and the tcpdump capture), and the allowed
 *    connection rate during the storm vs just before and after it, beside the same storm with
 *    logging off; three storms per mode in rotating order, medians reported.
 * Run: node --conditions=source --import tsx examples/node-agent/bench/flows.ts (root).
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestNet } from '@podnet/host/testing';
import { type ClusterState, type NetworkPolicy, type Pod, PolicySyncer } from '@podnet/netpol';
import type { Delta } from '@podnet/cluster-state';
import { FlowCapture } from '../src/flow-capture.js';
import { DEFAULT_LOG_RATE_LIMIT } from '../src/flow-config.js';
import { FlowIndex } from '../src/flow-index.js';
import { RateLimitedPoller } from '../src/flow-limit.js';
import { FlowRecorder } from '../src/flows.js';
import { createLogger } from '../src/log.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, '../../..');
const NETPOL_BENCH = join(REPO, 'packages/netpol/bench');
const STORM_PPS = 10_000;
const STORM_S = 10;
/** Storms per mode (logging off, default limit, no limit), in rotating order. */
const STORM_ROUNDS = 3;
/** The allowed connection rate's window just before and just after each storm. */
const QUIET_MS = 2000;
/** The log rate limit of the limited runs: the agent's default, or `PODNET_BENCH_LOG_RATE` (/s). */
const LOG_LIMIT = process.env.PODNET_BENCH_LOG_RATE
  ? {
      rate: Number(process.env.PODNET_BENCH_LOG_RATE),
      burst: Number(process.env.PODNET_BENCH_LOG_RATE),
    }
  : { ...DEFAULT_LOG_RATE_LIMIT };
const GROUP = 100;

/** A pause after a table load, so the kernel's cleanup of the old one is not measured. */
const settle = () => new Promise((r) => setTimeout(r, 500));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const r2 = (x: number) => Math.round(x * 100) / 100;

function podObj(ns: string, name: string, ip: string, labels: Record<string, string>): Pod {
  return {
    metadata: { namespace: ns, name, labels },
    spec: {
      nodeName: 'node-1',
      containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
    status: { podIP: ip, hostIP: '10.99.0.1' },
  };
}

/** 50 namespaces x 20 pods, 1,000 policies, plus the client, the governed server and the denied pod. */
function state(logAllowed: boolean): ClusterState {
  const namespaces = [
    ...Array.from({ length: 50 }, (_, n) => ({
      metadata: { name: `ns${n}`, labels: { team: `t${n % 5}` } },
    })),
    { metadata: { name: 'cli', labels: { team: 't2' } } },
  ];
  const pods: Pod[] = [];
  for (let n = 0; n < 50; n++)
    for (let i = 0; i < 20; i++)
      pods.push(
        podObj(`ns${n}`, `p${i}`, `10.${100 + (n >> 2)}.${(n & 3) * 60}.${i + 2}`, {
          app: `app${i % 10}`,
          role: `r${i % 4}`,
        }),
      );
  pods.push(podObj('cli', 'client', '10.120.1.2', { role: 'r3' }));
  pods.push(podObj('ns0', 'srv', '10.120.0.2', { app: 'app0' }));
  pods.push(podObj('ns1', 'sink', '10.120.0.3', { app: 'sink' }));
  const networkPolicies: NetworkPolicy[] = Array.from({ length: 998 }, (_, j) => ({
    metadata: { namespace: `ns${j % 50}`, name: `p${String(j).padStart(4, '0')}` },
    spec: {
      podSelector: { matchLabels: { app: `app${j % 10}` } },
      ingress: [
        {
          from: [
            {
              namespaceSelector: {
                matchLabels: { team: `t${((j % 50) + j) % 5 === 2 ? 3 : ((j % 50) + j) % 5}` },
              },
              podSelector: { matchLabels: { role: `r${j % 4}` } },
            },
          ],
          ports: [{ port: 8000 + (j % 100) }, { port: 'http' }],
        },
      ],
    },
  }));
  networkPolicies.push({
    metadata: {
      namespace: 'ns0',
      name: 'allow-client',
      ...(logAllowed ? { annotations: { 'podnet.io/log-allowed': 'true' } } : {}),
    },
    spec: {
      podSelector: { matchLabels: { app: 'app0' } },
      ingress: [
        { from: [{ namespaceSelector: { matchLabels: { team: 't2' } } }], ports: [{ port: 8080 }] },
      ],
    },
  });
  networkPolicies.push({
    metadata: { namespace: 'ns1', name: 'deny-all' },
    spec: { podSelector: { matchLabels: { app: 'sink' } }, policyTypes: ['Ingress'], ingress: [] },
  });
  return { namespaces, pods, networkPolicies };
}

const STORM_JS = `
const dgram = require('node:dgram');
const [host, pps, secs] = process.argv.slice(1).map((x, i) => (i ? Number(x) : x));
const s = dgram.createSocket('udp4');
const buf = Buffer.alloc(32);
let sent = 0;
const t0 = Date.now();
const tick = () => {
  const due = Math.floor(((Date.now() - t0) / 1000) * pps);
  while (sent < Math.min(due, pps * secs)) { s.send(buf, 9999, host); sent++; }
  if (sent >= pps * secs) { setTimeout(() => { console.log(JSON.stringify({ sent, ms: Date.now() - t0 })); s.close(); }, 200); return; }
  setTimeout(tick, 5);
};
tick();
`;

function cpuOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100; // utime + stime, clock ticks (100/s)
}

export async function runFlowsBench(): Promise<Record<string, unknown>> {
  const net = createTestNet();
  process.on('exit', () => net.cleanupSync());
  const log = createLogger({ level: 'warn' });
  try {
    const node = await net.ns('fnode');
    await net.exec(node, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    const gw = '10.99.0.1';
    const mk = async (short: string, ip: string, dev: string, server: boolean) => {
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
      if (server) {
        const srv = net.spawn(ns, [
          process.execPath,
          join(NETPOL_BENCH, 'hello-server.mjs'),
          '8080',
        ]);
        await new Promise<void>((r) => srv.stdout?.once('data', () => r()));
      }
      return ns;
    };
    const client = await mk('fcli', '10.120.1.2', 'vfcli', false);
    await mk('fsrv', '10.120.0.2', 'vfsrv', true);
    await mk('fsink', '10.120.0.3', 'vfsink', false);

    const conns = (ms: number) =>
      new Promise<{ rate: number; medianUs: number }>((res) => {
        const c = spawn(
          'nsenter',
          [
            `--net=/run/netns/${client}`,
            '--',
            process.execPath,
            join(NETPOL_BENCH, 'conn-client.mjs'),
            '10.120.0.2',
            '8080',
            String(ms),
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.once('exit', () => {
          const l = (JSON.parse(out) as { latenciesUs: number[][] }).latenciesUs[0] as number[];
          res({ rate: (l.length / l.reduce((a, b) => a + b, 0)) * 1e6, medianUs: median(l) });
        });
      });

    // the agent's side: index, recorder, capture, and a streaming reader draining the ring
    const index = new FlowIndex();
    const s0 = state(false);
    index.apply(
      s0.pods.map(
        (p) =>
          ({
            type: 'added',
            kind: 'Pod',
            key: `${p.metadata?.namespace}/${p.metadata?.name}`,
            object: p,
          }) as Delta,
      ),
    );
    const recorder = new FlowRecorder({ node: 'node-1', index, capacity: 4096 });
    const capture = new FlowCapture({ recorder, group: GROUP, netns: { name: node }, log });
    let delivered = 0;
    let bytes = 0;
    const cursor = recorder.cursor(true);
    const drain = setInterval(() => {
      for (;;) {
        const batch = recorder.read(cursor, 1024);
        if (batch.length === 0) break;
        for (const e of batch) {
          if (e.type === 'flow') delivered++;
          bytes += JSON.stringify(e).length + 1;
        }
      }
    }, 10);

    // A. OFF vs ON vs ON + accepts logged, alternated
    const off = new PolicySyncer({ host: net.host(node), log: false });
    // what the agent ships: drops logged under the default rate limit
    const on = new PolicySyncer({
      host: net.host(node),
      log: { group: GROUP },
      logRateLimit: LOG_LIMIT,
    });
    const unlimited = new PolicySyncer({ host: net.host(node), log: { group: GROUP } });
    const rounds: Record<'off' | 'on' | 'onAllowed', { rate: number; medianUs: number }[]> = {
      off: [],
      on: [],
      onAllowed: [],
    };
    let exported = 0;
    const measureOff = async () => {
      await off.sync(s0);
      await settle();
      rounds.off.push(await conns(1500));
      await off.teardown();
    };
    for (let round = 0; round < 4; round++) {
      // OFF first in even rounds, last in odd ones: no order effect in the averages
      if (round % 2 === 0) await measureOff();
      await on.sync(s0);
      await capture.start();
      await settle();
      rounds.on.push(await conns(1500));
      const before = delivered;
      await on.sync(state(true));
      await settle();
      rounds.onAllowed.push(await conns(1500));
      await new Promise((r) => setTimeout(r, 100));
      exported += delivered - before;
      await on.sync(s0);
      await capture.stop();
      await on.teardown();
      if (round % 2 === 1) await measureOff();
    }
    const rate = (xs: { rate: number }[]) => xs.reduce((a, b) => a + b.rate, 0) / xs.length;
    const A = {
      policies: 1000,
      offPerS: Math.round(rate(rounds.off)),
      onPerS: Math.round(rate(rounds.on)),
      onWithAcceptsLoggedPerS: Math.round(rate(rounds.onAllowed)),
      ratioOn: r2(rate(rounds.on) / rate(rounds.off)),
      ratioOnWithAccepts: r2(rate(rounds.onAllowed) / rate(rounds.off)),
      medianUs: {
        off: Math.round(median(rounds.off.map((r) => r.medianUs))),
        on: Math.round(median(rounds.on.map((r) => r.medianUs))),
        onWithAccepts: Math.round(median(rounds.onAllowed.map((r) => r.medianUs))),
      },
      acceptRecordsExported: exported,
      goalRatio: 0.9,
    };

    const stormProc = () =>
      new Promise<{ sent: number; ms: number }>((res) => {
        const c = spawn(
          'nsenter',
          [
            `--net=/run/netns/${client}`,
            '--',
            process.execPath,
            '-e',
            STORM_JS,
            '10.120.0.3',
            String(STORM_PPS),
            String(STORM_S),
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.once('exit', () => res(JSON.parse(out)));
      });
    // B. storms of denied packets, with allowed connections measured just before, during and
    // just after each; three modes (logging off, the agent's default limit, no limit), in
    // rotating order over STORM_ROUNDS rounds, so load from outside the bench hits all alike
    type Mode = 'off' | 'limited' | 'unlimited';
    const stormRun = async (mode: Mode) => {
      const syncer = mode === 'off' ? off : mode === 'limited' ? on : unlimited;
      await syncer.sync(s0);
      if (mode !== 'off') await capture.start();
      const poller =
        mode === 'limited'
          ? new RateLimitedPoller({ recorder, log, netns: { name: node } })
          : undefined;
      poller?.start();
      await settle();
      const before = await conns(QUIET_MS);
      const received0 = recorder.stats.received;
      const delivered0 = delivered;
      const lost0 = recorder.stats.lostSlowReader;
      const kernel0 = recorder.stats.lostKernel;
      const limited0 = recorder.stats.rateLimited;
      const tcpdumpPid = capture.pid;
      const tcpCpu0 = tcpdumpPid === undefined ? 0 : cpuOf(tcpdumpPid);
      const cpu0 = process.cpuUsage();
      const wall0 = performance.now();
      const storm = stormProc();
      const during = await conns((STORM_S - 2) * 1000);
      const sent = await storm;
      // let the records still queued in the socket and the pipe arrive (no change for 300 ms)
      for (let last = -1; recorder.stats.received !== last; ) {
        last = recorder.stats.received;
        await new Promise((r) => setTimeout(r, 300));
      }
      await poller?.stop();
      capture.checkDrops();
      const wallS = (performance.now() - wall0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const agentCpuS = (cpu.user + cpu.system) / 1e6;
      const tcpdumpCpuS = tcpdumpPid === undefined ? 0 : cpuOf(tcpdumpPid) - tcpCpu0;
      const after = await conns(QUIET_MS);
      const read = recorder.stats.received - received0;
      const kernel = recorder.stats.lostKernel - kernel0;
      const rateLimited = recorder.stats.rateLimited - limited0;
      if (mode !== 'off') await capture.stop();
      await syncer.teardown();
      const quiet = (before.rate + after.rate) / 2;
      return {
        sent: sent.sent,
        read,
        delivered: delivered - delivered0,
        rateLimited,
        kernel,
        inRing: recorder.stats.lostSlowReader - lost0,
        agentCpu: (agentCpuS / wallS) * 100,
        tcpdumpCpu: (tcpdumpCpuS / wallS) * 100,
        quiet,
        during: during.rate,
        ratio: during.rate / quiet,
      };
    };
    const runs: Record<Mode, Awaited<ReturnType<typeof stormRun>>[]> = {
      off: [],
      limited: [],
      unlimited: [],
    };
    const modes: Mode[] = ['off', 'limited', 'unlimited'];
    for (let round = 0; round < STORM_ROUNDS; round++)
      for (let k = 0; k < modes.length; k++) {
        const mode = modes[(k + round) % modes.length] as Mode;
        runs[mode].push(await stormRun(mode));
      }
    const sum = (m: Mode, f: (x: (typeof runs)[Mode][number]) => number) =>
      runs[m].reduce((a, x) => a + f(x), 0);
    const summary = (m: Mode) => ({
      rounds: runs[m].length,
      sentPackets: sum(m, (x) => x.sent),
      recordsRead: sum(m, (x) => x.read),
      recordsDelivered: sum(m, (x) => x.delivered),
      rateLimitedCounted: sum(m, (x) => x.rateLimited),
      lostKernelCounted: sum(m, (x) => x.kernel),
      unaccounted: m === 'off' ? 0 : sum(m, (x) => x.sent - x.read - x.kernel - x.rateLimited),
      lostInRing: sum(m, (x) => x.inRing),
      agentCpuPercent: Math.round(median(runs[m].map((x) => x.agentCpu))),
      tcpdumpCpuPercent: Math.round(median(runs[m].map((x) => x.tcpdumpCpu))),
      allowedConnsPerS: {
        quiet: Math.round(median(runs[m].map((x) => x.quiet))),
        duringStorm: Math.round(median(runs[m].map((x) => x.during))),
      },
      allowedRatio: r2(median(runs[m].map((x) => x.ratio))),
      allowedRatios: runs[m].map((x) => r2(x.ratio)),
    });
    const B = {
      ppsPerStorm: STORM_PPS,
      secondsPerStorm: STORM_S,
      logRateLimit: LOG_LIMIT,
      ...summary('limited'),
      streamedMiB: r2(bytes / 2 ** 20),
      unlimited: summary('unlimited'),
      withoutLogging: summary('off'),
    };
    clearInterval(drain);
    await on.close();
    await unlimited.close();
    await off.close();
    return { connections: A, storm: B };
  } finally {
    await net.cleanup();
  }
}

type StormResult = Record<string, number> & {
  allowedConnsPerS: Record<string, number>;
  allowedRatios: number[];
};

/** The printed lines of one storm mode. */
function stormRows(label: string, b: StormResult, records = true): string[][] {
  const rows = [
    [
      `storm, ${label}: allowed new conns/s quiet vs during (median of ${b.rounds})`,
      `${b.allowedConnsPerS.quiet} vs ${b.allowedConnsPerS.duringStorm}`,
      `ratio ${b.allowedRatio} (rounds: ${b.allowedRatios.join(', ')})`,
      '',
    ],
  ];
  if (!records) return rows;
  return [
    [
      `storm, ${label}: records delivered of ${b.sentPackets} sent`,
      `${b.recordsDelivered}`,
      `rate-limited ${b.rateLimitedCounted} (counted); lost at the NFLOG socket ${b.lostKernelCounted} (counted); unaccounted ${b.unaccounted}; lost in ring ${b.lostInRing}`,
      '',
    ],
    [
      `storm, ${label}: agent CPU / tcpdump CPU (median)`,
      `${b.agentCpuPercent}% / ${b.tcpdumpCpuPercent}%`,
      '',
      '',
    ],
    ...rows,
  ];
}

function print(r: { connections: Record<string, unknown>; storm: Record<string, unknown> }): void {
  const a = r.connections as Record<string, number> & { medianUs: Record<string, number> };
  const b = r.storm as StormResult;
  const wo = (r.storm as { withoutLogging: StormResult }).withoutLogging;
  const un = (r.storm as { unlimited: StormResult }).unlimited;
  const lim = (r.storm as { logRateLimit: { rate: number; burst: number } }).logRateLimit;
  const rows = [
    [
      'new conns/s, 1,000 policies, logging + export off',
      `${a.offPerS}/s`,
      `median ${a.medianUs.off} µs`,
      '',
    ],
    [
      'new conns/s, drop logging + flow export on',
      `${a.onPerS}/s`,
      `ratio ${a.ratioOn}`,
      `goal >= 0.9: ${a.ratioOn >= 0.9 ? 'met' : 'missed'}`,
    ],
    [
      'new conns/s, + every accept logged and exported',
      `${a.onWithAcceptsLoggedPerS}/s`,
      `ratio ${a.ratioOnWithAccepts}`,
      `${a.acceptRecordsExported} records exported`,
    ],
    [
      `storms: ${STORM_PPS} denied UDP packets/s for ${STORM_S} s, ${b.rounds} per mode`,
      '',
      '',
      '',
    ],
    ...stormRows(`log limit ${lim.rate}/s burst ${lim.burst}`, b),
    ...stormRows('no log limit', un),
    ...stormRows('logging off (the storm alone)', wo, false),
  ];
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((x) => (x[i] ?? '').length)));
  console.log('\nflow records benchmark (node agent)');
  for (const x of rows) console.log(x.map((c, i) => c.padEnd(w[i] ?? 0)).join('  '));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runFlowsBench().then(
    (r) => {
      print(r as never);
      const dir = join(REPO, 'bench-results');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'node-agent-flows.json'), `${JSON.stringify(r, null, 2)}\n`);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}

export { print as printFlowsBench };
