/**
 * The storm benchmark's traffic tools (`flow-traffic.c`: an exact paced UDP storm, a TCP server
 * and a closed-loop TCP client that counts connections per time window), compiled once with the
 * system's `gcc` (tools/scripts/ensure-deps.sh installs it), and the statistics of their windows.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'flow-traffic.c');

/**
 * Compiles `flow-traffic.c` (once per source version) and returns the binary's path.
 * Throws when `gcc` is missing or the build fails.
 */
export function flowTrafficBinary(): string {
  const dir = join(tmpdir(), `podnet-flow-traffic-${Math.round(statSync(SOURCE).mtimeMs)}`);
  const bin = join(dir, 'flow-traffic');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  // built under a name of this process, then renamed: a concurrent build never runs a half file
  const tmp = `${bin}.${process.pid}`;
  const r = spawnSync('gcc', ['-O2', '-o', tmp, SOURCE], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`cannot build ${SOURCE} with gcc: ${r.error?.message ?? r.stderr}`);
  renameSync(tmp, bin);
  return bin;
}

/**
 * `taskset -c CPU` (and `nice -n NICE` when given) before argv, or argv alone when `cpu` is
 * undefined.
 */
export function pinned(cpu: number | undefined, argv: string[], nice?: number): string[] {
  if (cpu === undefined) return argv;
  const niced = nice === undefined ? argv : ['nice', '-n', String(nice), ...argv];
  return ['taskset', '-c', String(cpu), ...niced];
}

/** Runs argv inside network namespace `ns` and parses the one JSON line it prints. */
export function runJsonIn<T>(ns: string, argv: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const c = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.once('error', reject);
    // 'close', not 'exit': the output may still be in the pipe when the process has exited
    c.once('close', (code) => {
      try {
        if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}`);
        resolve(JSON.parse(out) as T);
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** What `flow-traffic client` prints. */
export interface ClientResult {
  /** Completed connections per window. */
  windows: number[];
  errors: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

/** What `flow-traffic storm` prints. */
export interface StormResult {
  sent: number;
  failed: number;
  ms: number;
}

/**
 * The `q` quantile (0-1) of `xs`, interpolated between the two nearest ranks (the median of an
 * even count is the mean of the middle two). Pure.
 */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = Math.min(1, Math.max(0, q)) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
}

/** Median, quartiles and extremes of a sample. Pure. */
export function spread(xs: readonly number[]): {
  median: number;
  p25: number;
  p75: number;
  min: number;
  max: number;
  n: number;
} {
  return {
    median: quantile(xs, 0.5),
    p25: quantile(xs, 0.25),
    p75: quantile(xs, 0.75),
    min: quantile(xs, 0),
    max: quantile(xs, 1),
    n: xs.length,
  };
}
