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
