/**
 * @podnet/cni-spec benchmark: the plugin skeleton handling an ADD in-process (ops/s), and the
 * exec'd example plugin's VERSION latency against Debian's Go `host-local` VERSION, interleaved
 * in one run (ratio = node plugin p50 / Go plugin p50), with bare `node -e 0` as the floor.
 * Run: node --conditions=source --import tsx packages/cni-spec/bench/index.ts
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundlePlugin } from '../test/helpers.js';
import {
  type CniResult,
  convertResult,
  handleInvocation,
  parseNetConf,
  type PluginHandlers,
} from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');
const work = mkdtempSync(join(tmpdir(), 'cni-spec-bench-'));
const hostLocal = '/usr/lib/cni/host-local';

const result: CniResult = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '0a:58:0a:01:00:01' },
    { name: 'eth0', sandbox: '/run/netns/p' },
  ],
  ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 1 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
  dns: { nameservers: ['10.96.0.10'] },
};
const handlers: PluginHandlers = { add: () => result, del: () => {} };
const stdin = JSON.stringify({
  cniVersion: '1.0.0',
  name: 'bench',
  type: 'bridge',
  bridge: 'cni0',
  ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24' }]] },
  prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24' }] },
});
const env = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'abc123',
  CNI_NETNS: '/run/netns/p',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1',
};

async function opsPerSecond(fn: () => unknown, seconds: number): Promise<number> {
  let ops = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) await fn();
    ops += 100;
  }
  return (ops / (performance.now() - start)) * 1000;
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete e.NODE_EXTRA_CA_CERTS;
  delete e.NODE_OPTIONS;
  return e;
}

function timeExec(argv: string[], input: string, e: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(argv[0] as string, argv.slice(1), {
      env: e,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stdin.on('error', () => {});
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) reject(new Error(`${argv.join(' ')} exited ${code}: ${out}`));
      else resolve(ms);
    });
    child.stdin.end(input);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};

async function main(): Promise<void> {
  const binDir = join(work, 'bin');
  mkdirSync(binDir);
  await bundlePlugin('./fixtures/hello-plugin.ts', 'hello', binDir);

  const inProcess = await opsPerSecond(() => handleInvocation({ env, stdin }, handlers), 3);
  const parseOnly = await opsPerSecond(() => parseNetConf(stdin), 2);
  const convertOnly = await opsPerSecond(() => convertResult(result, '0.4.0'), 2);

  const versionIn = JSON.stringify({ cniVersion: '1.0.0' });
  const e = childEnv({ CNI_COMMAND: 'VERSION' });
  const runs = 60;
  const node: number[] = [];
  const go: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < 5; i++) {
    await timeExec([join(binDir, 'hello')], versionIn, e);
    await timeExec([hostLocal], versionIn, e);
  }
  for (let i = 0; i < runs; i++) {
    node.push(await timeExec([join(binDir, 'hello')], versionIn, e));
    go.push(await timeExec([hostLocal], versionIn, e));
    bare.push(await timeExec([process.execPath, '-e', '0'], '', e));
  }
  const ratio = pct(node, 50) / pct(go, 50);

  const rows = [
    [
      'skeleton ADD in-process (handleInvocation)',
      `${Math.round(inProcess).toLocaleString('en')} ops/s`,
    ],
    ['parseNetConf (with prevResult)', `${Math.round(parseOnly).toLocaleString('en')} ops/s`],
    ['convertResult 1.1.0 → 0.4.0', `${Math.round(convertOnly).toLocaleString('en')} ops/s`],
    [
      'exec example plugin VERSION p50 / p95',
      `${pct(node, 50).toFixed(1)} / ${pct(node, 95).toFixed(1)} ms`,
    ],
    [
      'exec Go host-local VERSION p50 / p95 (anchor)',
      `${pct(go, 50).toFixed(1)} / ${pct(go, 95).toFixed(1)} ms`,
    ],
    ['exec node -e 0 p50 (floor)', `${pct(bare, 50).toFixed(1)} ms`],
    ['ratio example plugin / host-local (p50)', `${ratio.toFixed(1)}x`],
  ];
  const w = Math.max(...rows.map((r) => (r[0] as string).length));
  console.log('@podnet/cni-spec benchmark');
  for (const [k, v] of rows) console.log(`  ${(k as string).padEnd(w)}  ${v}`);

  const out = {
    package: '@podnet/cni-spec',
    date: new Date().toISOString(),
    skeletonAddOpsPerSec: Math.round(inProcess),
    parseNetConfOpsPerSec: Math.round(parseOnly),
    convertResultOpsPerSec: Math.round(convertOnly),
    execVersionMs: {
      examplePlugin: { p50: pct(node, 50), p95: pct(node, 95) },
      goHostLocal: { p50: pct(go, 50), p95: pct(go, 95) },
      nodeBare: { p50: pct(bare, 50) },
      runs,
    },
    ratio: { examplePluginVsHostLocalVersionP50: ratio },
  };
  mkdirSync(join(repoRoot, 'bench-results'), { recursive: true });
  writeFileSync(
    join(repoRoot, 'bench-results', 'cni-spec.json'),
    `${JSON.stringify(out, null, 2)}\n`,
  );
}

main()
  .finally(() => rmSync(work, { recursive: true, force: true }))
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
