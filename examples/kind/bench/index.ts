// Start time of the self-contained CNI binary (Node SEA) against the script form of the same shim,
// a bare `node -e 0`, and the Go reference plugin host-local, all answering VERSION, interleaved
// in one run. Writes bench-results/example-kind.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSea } from '../src/index.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const shimEntry = join(repo, 'examples/cni-plugin/src/bin/podnet.ts');
const shimDist = join(repo, 'examples/cni-plugin/dist/bin/podnet.js');
const rounds = Number(process.env.BENCH_ROUNDS ?? 40);

const env: NodeJS.ProcessEnv = { ...process.env, CNI_COMMAND: 'VERSION' };
delete env.NODE_EXTRA_CA_CERTS;

const work = mkdtempSync(join(tmpdir(), 'podnet-sea-bench-'));
try {
  const sea = await buildSea({ entry: shimEntry, outFile: join(work, 'podnet') });
  const subjects: Record<string, string[]> = {
    'podnet SEA binary': [sea.outFile],
    'podnet shim (node dist/bin/podnet.js)': ['node', shimDist],
    'node -e 0': ['node', '-e', '0'],
    'host-local (Go)': ['/usr/lib/cni/host-local'],
  };
  if (!existsSync(shimDist)) throw new Error(`build first: ${shimDist} is missing`);
  const times: Record<string, number[]> = Object.fromEntries(
    Object.keys(subjects).map((k) => [k, []]),
  );
  for (let i = 0; i < rounds; i++) {
    for (const [name, argv] of Object.entries(subjects)) {
      const t0 = performance.now();
      const r = spawnSync(argv[0]!, argv.slice(1), { env, input: '{"cniVersion":"1.0.0"}' });
      const ms = performance.now() - t0;
      if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`);
      if (i > 0) times[name]!.push(ms);
    }
  }
  const q = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  };
  const rows = Object.entries(times).map(([name, xs]) => ({
    name,
    p50: q(xs, 0.5),
    p95: q(xs, 0.95),
    min: Math.min(...xs),
  }));
  console.log(`SEA build: ${(sea.bytes / 1e6).toFixed(1)} MB in ${Math.round(sea.ms)} ms`);
  console.log('VERSION start time (ms)      p50      p95      min');
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(40)} ${r.p50.toFixed(1).padStart(6)} ${r.p95.toFixed(1).padStart(8)} ${r.min.toFixed(1).padStart(8)}`,
    );
  }
  const by = Object.fromEntries(rows.map((r) => [r.name, r]));
  const ratios = {
    seaVsScript: by['podnet SEA binary']!.p50 / by['podnet shim (node dist/bin/podnet.js)']!.p50,
    seaVsNodeStart: by['podnet SEA binary']!.p50 / by['node -e 0']!.p50,
    seaVsHostLocal: by['podnet SEA binary']!.p50 / by['host-local (Go)']!.p50,
  };
  console.log(
    `ratio p50: SEA / script ${ratios.seaVsScript.toFixed(2)}, SEA / node -e 0 ${ratios.seaVsNodeStart.toFixed(2)}, SEA / host-local ${ratios.seaVsHostLocal.toFixed(1)}`,
  );
  mkdirSync(join(repo, 'bench-results'), { recursive: true });
  writeFileSync(
    join(repo, 'bench-results/example-kind.json'),
    `${JSON.stringify({ rounds, seaBytes: sea.bytes, seaBuildMs: sea.ms, rows, ratios }, null, 2)}\n`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
