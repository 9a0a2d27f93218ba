import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What one dnsperf run measured, with the server's CPU-seconds over the run. */
export interface DnsperfResult {
  completed: number;
  qps: number;
  cpu: number;
  qpsPerCpu: number;
  lostPct: number;
}

/** Reads dnsperf's summary (`Queries sent/completed`, `Queries per second`) beside `cpu`. */
export function dnsperfResult(stdout: string, cpu: number): DnsperfResult {
  const completed = Number(/Queries completed:\s+(\d+)/.exec(stdout)?.[1]);
  const sent = Number(/Queries sent:\s+(\d+)/.exec(stdout)?.[1]);
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(stdout)?.[1]);
  return {
    completed,
    qps,
    cpu,
    qpsPerCpu: completed / cpu,
    lostPct: ((sent - completed) / sent) * 100,
  };
}

/**
 * Runs dnsperf against 127.0.0.1:`port` with `queries` for `seconds` (plus `sizing`: clients,
 * threads, outstanding queries, timeout) and reads its summary beside the CPU-seconds the server
 * `pid` used meanwhile (`cpuSeconds`).
 */
export async function measureDnsperf(o: {
  pid: number;
  port: number;
  queries: string;
  seconds: number;
  sizing: readonly string[];
  cpuSeconds: (pid: number) => number;
}): Promise<DnsperfResult> {
  const before = o.cpuSeconds(o.pid);
  const { stdout } = await run(
    'dnsperf',
    [
      '-s',
      '127.0.0.1',
      '-p',
      String(o.port),
      '-d',
      o.queries,
      '-l',
      String(o.seconds),
      ...o.sizing,
    ],
    { maxBuffer: 1 << 24 },
  );
  return dnsperfResult(stdout, o.cpuSeconds(o.pid) - before);
}
