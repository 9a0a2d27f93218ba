/**
 * Every core (issue 18 item 3): podnet-dns with two UDP worker threads (`--workers 2`, two
 * SO_REUSEPORT sockets sharing one copy of the prepared answers) vs knotd with `udp-workers: 2`,
 * side by side, the same 10,000 names and query file (~10 % NXDOMAIN) as the single-worker part.
 *
 * How dnsperf is sized on a 2-CPU machine: it runs unpinned with one thread (`-T 1`) and 32
 * clients (`-c 32`: 32 source ports, so the kernel's SO_REUSEPORT hash spreads the queries over
 * both sockets of either server), 200 queries outstanding; it takes about one CPU, so both
 * servers share what is left, exactly alike (neither server is pinned either). Total QPS is
 * what fits in that; QPS per server CPU-second (all the server's threads, from /proc/<pid>/stat)
 * is the efficiency. Rounds alternate between the servers; the best round of each counts (other
 * load only ever lowers a round) and every round's ratios are kept.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { measureDnsperf } from './dnsperf.js';
import { printTable } from './table.js';

const run = promisify(execFile);
const SECONDS = Number(process.env.PODNET_DNS_BENCH_WORKERS_SECONDS ?? 5);
const ROUNDS = Number(process.env.PODNET_DNS_BENCH_WORKERS_ROUNDS ?? 3);
const WORKERS = 2;
const DNSPERF_SIZING = ['-c', '32', '-T', '1', '-q', '200', '-t', '2'];

/** What the main bench has set up: the servers' inputs and its helpers. */
export interface WorkersBenchContext {
  /** podnet-dns's argv (node flags, entry, manifests, port) with `--workers 1`. */
  podnetArgv(port: number): string[];
  podnetEnv: NodeJS.ProcessEnv;
  /** Directory with `cluster.local.zone` for knotd. */
  zoneDir: string;
  /** A scratch directory for knotd's rundir and database. */
  work: string;
  queryFile: string;
  freePort(): Promise<number>;
  waitForAnswer(port: number, child: ChildProcess, label: string): Promise<void>;
  cpuSeconds(pid: number): number;
}

interface Round {
  completed: number;
  qps: number;
  cpu: number;
  qpsPerCpu: number;
  lostPct: number;
}

/** The results of the two-worker comparison (also written to bench-results). */
export interface WorkersBenchResult {
  workers: number;
  dnsperf: string;
  podnet: Round;
  knot: Round;
  ratioQps: number;
  ratioQpsPerCpu: number;
  rounds: { podnetQps: number; knotQps: number; podnetQpsPerCpu: number; knotQpsPerCpu: number }[];
  loadavg: string;
}

async function measure(pid: number, port: number, ctx: WorkersBenchContext): Promise<Round> {
  return measureDnsperf({
    pid,
    port,
    queries: ctx.queryFile,
    seconds: SECONDS,
    sizing: DNSPERF_SIZING,
    cpuSeconds: ctx.cpuSeconds,
  });
}

/** Starts both servers with two workers each, measures, stops them. */
export async function workersBench(ctx: WorkersBenchContext): Promise<WorkersBenchResult> {
  const children: ChildProcess[] = [];
  try {
    const podnetPort = await ctx.freePort();
    const argv = ctx.podnetArgv(podnetPort);
    const at = argv.indexOf('--workers');
    if (at >= 0) argv.splice(at, 2);
    argv.push('--workers', String(WORKERS));
    const podnet = spawn(process.execPath, argv, {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: ctx.podnetEnv,
    });
    children.push(podnet);
    let out = '';
    podnet.stdout?.on('data', (d) => {
      out += d;
    });
    const knotPort = await ctx.freePort();
    const dir = join(ctx.work, 'knot-workers');
    mkdirSync(join(dir, 'run'), { recursive: true });
    mkdirSync(join(dir, 'db'), { recursive: true });
    writeFileSync(
      join(dir, 'knot.conf'),
      `server:\n  rundir: "${dir}/run"\n  listen: 127.0.0.1@${knotPort}\n  udp-workers: ${WORKERS}\n  tcp-workers: 1\n  background-workers: 1\n` +
        `database:\n  storage: "${dir}/db"\nlog:\n  - target: stderr\n    any: error\n` +
        `zone:\n  - domain: cluster.local\n    storage: "${ctx.zoneDir}"\n    file: "cluster.local.zone"\n`,
    );
    const knot = spawn('knotd', ['-c', join(dir, 'knot.conf')], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(knot);
    await ctx.waitForAnswer(podnetPort, podnet, `podnet-dns --workers ${WORKERS}`);
    await ctx.waitForAnswer(knotPort, knot, `knotd udp-workers ${WORKERS}`);
    // the listening line is written just after the sockets answer
    for (let i = 0; i < 100 && !out.includes('"listening"'); i++)
      await new Promise((r) => setTimeout(r, 50));
    const listening = out.split('\n').find((l) => l.includes('"listening"'));
    const served = listening ? (JSON.parse(listening) as { udpWorkers?: number }).udpWorkers : 0;
    if (served !== WORKERS)
      throw new Error(
        `podnet-dns serves UDP with ${served} workers, not ${WORKERS} (is the native addon built?)`,
      );
    for (const p of [podnetPort, knotPort])
      await run('dnsperf', ['-s', '127.0.0.1', '-p', String(p), '-d', ctx.queryFile, '-l', '2']);
    const rounds: WorkersBenchResult['rounds'] = [];
    let best: { podnet: Round; knot: Round } | undefined;
    for (let r = 0; r < ROUNDS; r++) {
      // alternate which server goes first
      const first = r % 2 === 0;
      const a = first ? await measure(podnet.pid as number, podnetPort, ctx) : undefined;
      const b = await measure(knot.pid as number, knotPort, ctx);
      const p = a ?? (await measure(podnet.pid as number, podnetPort, ctx));
      rounds.push({
        podnetQps: p.qps,
        knotQps: b.qps,
        podnetQpsPerCpu: p.qpsPerCpu,
        knotQpsPerCpu: b.qpsPerCpu,
      });
      best = {
        podnet: best && best.podnet.qps >= p.qps ? best.podnet : p,
        knot: best && best.knot.qps >= b.qps ? best.knot : b,
      };
    }
    if (!best) throw new Error('no rounds');
    // each ratio from each server's best round for that measure
    const most = (f: (x: WorkersBenchResult['rounds'][number]) => number): number =>
      Math.max(...rounds.map(f));
    return {
      workers: WORKERS,
      dnsperf: `dnsperf ${DNSPERF_SIZING.join(' ')} -l ${SECONDS}, unpinned, same for both`,
      podnet: best.podnet,
      knot: best.knot,
      ratioQps: most((x) => x.podnetQps) / most((x) => x.knotQps),
      ratioQpsPerCpu: most((x) => x.podnetQpsPerCpu) / most((x) => x.knotQpsPerCpu),
      rounds,
      loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
    };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  }
}

/** Prints the comparison and its goal lines. */
export function printWorkers(r: WorkersBenchResult): void {
  const fmt = (n: number, d = 0): string =>
    n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(
    `\nEvery core: podnet-dns --workers ${r.workers} vs knotd udp-workers: ${r.workers} (same 10,000 names, ~10 % NXDOMAIN; ${r.dnsperf}; load ${r.loadavg})\n`,
  );
  const rows = [
    ['metric', `podnet-dns ×${r.workers}`, `knotd ×${r.workers}`, 'podnet / knotd'],
    ['QPS (best round)', fmt(r.podnet.qps), fmt(r.knot.qps), r.ratioQps.toFixed(2)],
    ['server CPU-seconds', fmt(r.podnet.cpu, 2), fmt(r.knot.cpu, 2), ''],
    [
      'QPS per server CPU-second (best round)',
      fmt(Math.max(...r.rounds.map((x) => x.podnetQpsPerCpu))),
      fmt(Math.max(...r.rounds.map((x) => x.knotQpsPerCpu))),
      r.ratioQpsPerCpu.toFixed(2),
    ],
    ['lost queries', `${fmt(r.podnet.lostPct, 2)} %`, `${fmt(r.knot.lostPct, 2)} %`, ''],
    [
      `QPS per round (${r.rounds.length})`,
      r.rounds.map((x) => fmt(x.podnetQps)).join(' '),
      r.rounds.map((x) => fmt(x.knotQps)).join(' '),
      r.rounds.map((x) => (x.podnetQps / x.knotQps).toFixed(2)).join(' '),
    ],
  ];
  printTable(rows);
  console.log(
    `\nratio: total QPS with ${r.workers} workers = ${r.ratioQps.toFixed(2)} × knotd with ${r.workers} (goal ≥ 1.0; ${fmt(r.podnet.qps)} vs ${fmt(r.knot.qps)})`,
  );
  console.log(
    `ratio: QPS per CPU-second with ${r.workers} workers = ${r.ratioQpsPerCpu.toFixed(2)} × knotd with ${r.workers} (goal ≥ 1.0; per round ${r.rounds.map((x) => (x.podnetQpsPerCpu / x.knotQpsPerCpu).toFixed(2)).join(', ')})`,
  );
}
