/**
 * What the convergence benchmark needs around a node namespace: a listening socket bound inside
 * it but served by this process, a long-lived `nft monitor` whose lines are timestamped as they
 * arrive, and cheap looks at a process (CPU ticks, memory) through /proc.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, type Server, type Socket } from 'node:net';
import type { TestNet } from '@podnet/host/testing';

/**
 * Milliseconds on the monotonic clock (`process.hrtime`), the same for every thread of this
 * process: timestamps taken on the fixture's worker thread and on the main thread compare.
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The environment without the CA bundle variable (it slows every node start). */
export function benchEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** Clock ticks per second of `/proc/PID/stat` CPU times (USER_HZ). */
export const CLOCK_TICKS = 100;

/** A command's outcome, as {@link Prober.exec} reports it. */
export interface ProbeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs probe commands (`dig`) and DNS queries in a namespace from a small helper process. */
export interface Prober {
  /** The helper's process id (to wait for it to be idle: it must not run during a sample). */
  readonly pid: number;
  exec(argv: readonly string[], timeoutMs?: number): Promise<ProbeResult>;
  /**
   * The A records `server` answers for `name` (one UDP query sent by the helper itself, no
   * process: for polls; `[]` when nothing answered within `timeoutMs`).
   */
  resolveA(server: string, name: string, timeoutMs?: number): Promise<string[]>;
  /** CPU seconds the helper and the commands it ran (once they ended) used so far. */
  cpuSeconds(): number;
  close(): void;
}

/**
 * The helper's code: runs `{argv}` messages with execFile, answers `{dns}` messages with one
 * UDP query of its own, encoded and decoded by `dns-packet` (resolved where `@podnet/dns` finds
 * it, as the helper runs without the bench's loader).
 */
const PROBER_SCRIPT = `
const { execFile } = require('node:child_process');
const dgram = require('node:dgram');
const packet = require(${JSON.stringify(createRequire(import.meta.resolve('@podnet/dns')).resolve('dns-packet'))});
process.on('message', (m) => {
  if (m.dns) {
    const sock = dgram.createSocket('udp4');
    const id = m.id & 0xffff;
    let done = false;
    const finish = (addrs) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      process.send({ id: m.id, code: 0, stdout: addrs.join('\\n'), stderr: '' });
    };
    const timer = setTimeout(() => finish([]), m.timeoutMs);
    sock.on('error', () => finish([]));
    sock.on('message', (b) => {
      let r;
      try { r = packet.decode(b); } catch { return; }
      if (r.id === id) finish(r.answers.filter((a) => a.type === 'A').map((a) => a.data));
    });
    const q = { type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ type: 'A', name: m.dns.name }] };
    sock.send(packet.encode(q), 53, m.dns.server);
    return;
  }
  execFile(m.argv[0], m.argv.slice(1), { timeout: m.timeoutMs, maxBuffer: 1 << 24 }, (e, stdout, stderr) =>
    process.send({ id: m.id, code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }));
});
`;

/**
 * Starts a small long-lived `node` in network namespace `ns` that runs the commands it is sent
 * over its IPC channel and sends back their exit code and output. The bench polls through it
 * because a spawn forks the spawning process: from the bench process (the whole cluster's
 * objects in memory, and the proxy the agent's lists go through) each of the 20-30 probes a
 * second stalled that process for milliseconds, and the lists behind them (cold start's lists
 * took ~5 s instead of ~2 s). Forking this helper costs next to nothing. V8's memory reducer is
 * off in it: its timed GCs ran on both cores in the middle of samples, long after the probes.
 */
export function startProber(ns: string): Prober {
  const argv = [process.execPath, '--no-memory-reducer', '-e', PROBER_SCRIPT];
  const child = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: benchEnv(),
  });
  const pending = new Map<number, (r: ProbeResult) => void>();
  let next = 0;
  child.on('message', (m: ProbeResult & { id: number }) => {
    pending.get(m.id)?.({ code: m.code, stdout: m.stdout, stderr: m.stderr });
    pending.delete(m.id);
  });
  const failAll = () => {
    for (const done of pending.values())
      done({ code: -1, stdout: '', stderr: 'probe helper exited' });
    pending.clear();
  };
  child.once('exit', failAll);
  const send = (message: Record<string, unknown>): Promise<ProbeResult> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || !child.connected)
        return resolve({ code: -1, stdout: '', stderr: 'probe helper exited' });
      const id = next++;
      pending.set(id, resolve);
      child.send({ id, ...message });
    });
  return {
    pid: child.pid ?? -1,
    exec: (argv, timeoutMs = 30_000) => send({ argv, timeoutMs }),
    resolveA: (server, name, timeoutMs = 1_000) =>
      send({ dns: { server, name }, timeoutMs }).then((r) =>
        r.code === 0 && r.stdout !== '' ? r.stdout.split('\n') : [],
      ),
    cpuSeconds: () => {
      // utime, stime, and the ended children's cutime, cstime
      const f = procStat(child.pid ?? -1);
      return f ? (f[11]! + f[12]! + f[13]! + f[14]!) / CLOCK_TICKS : 0;
    },
    close: () => {
      failAll();
      child.kill();
    },
  };
}

/**
 * Binds a TCP socket to 127.0.0.1 (ephemeral port) inside network namespace `ns` and hands it
 * to this process: a short-lived helper `node` binds it there and sends the listening handle
 * back over its IPC channel (SCM_RIGHTS), then exits. Connections made inside `ns` to that port
 * are accepted here; nothing listens on the host's interfaces.
 */
export async function listenInNetns(ns: string): Promise<{ server: Server; port: number }> {
  const script =
    "const s=require('node:net').createServer();" +
    "s.listen(0,'127.0.0.1',()=>process.send({port:s.address().port},s,()=>{s.close();process.disconnect();}));";
  const child = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, '-e', script], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: benchEnv(),
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`netns listener helper exited ${code}`)));
    child.once('message', (msg: { port: number }, handle) => {
      child.removeAllListeners('exit');
      resolve({ server: handle as Server, port: msg.port });
    });
  });
}

/** One HTTP request that went through {@link forwardConnections}. */
export interface ForwardedRequest {
  /** The request target, e.g. `/api/v1/pods?limit=500`. */
  path: string;
  /** When the request line arrived (`nowMs()`). */
  at: number;
  /** When the first byte of its response came back (0 until then). */
  answeredAt: number;
}

/**
 * Forwards every connection accepted on `server` to `127.0.0.1:port` in this process's own
 * namespace (the ApiFixture), with Nagle off on both legs, and records each HTTP request into
 * `requests`: its target, when it arrived, and when its answer started (requests on one
 * connection are answered in order, so the first response bytes after a request are its own).
 */
export function forwardConnections(
  server: Server,
  port: number,
  requests: ForwardedRequest[] = [],
): ForwardedRequest[] {
  const open = new Set<Socket>();
  server.on('connection', (inbound: Socket) => {
    const outbound = connect(port, '127.0.0.1');
    inbound.setNoDelay(true);
    outbound.setNoDelay(true);
    open.add(inbound);
    open.add(outbound);
    const pending: ForwardedRequest[] = [];
    inbound.on('data', (chunk: Buffer) => {
      const at = nowMs();
      for (const m of chunk.toString('latin1').matchAll(/^GET (\S+) HTTP\/1\.1\r$/gm)) {
        const r = { path: m[1]!, at, answeredAt: 0 };
        requests.push(r);
        pending.push(r);
      }
    });
    outbound.on('data', () => {
      const r = pending.shift();
      if (r) r.answeredAt = nowMs();
    });
    inbound.pipe(outbound).pipe(inbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      open.delete(inbound);
      open.delete(outbound);
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  server.on('close', () => {
    for (const s of open) s.destroy();
  });
  return requests;
}

interface Waiter {
  match: (line: string) => boolean;
  resolve: (at: number) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A long-lived `nft monitor` in a namespace. Every line it prints is timestamped
 * (`nowMs()`) when it reaches this process; {@link NftMonitor.expect} resolves with
 * the arrival time of the first line matching a predicate. nft flushes each event line, and the
 * kernel sends a transaction's events when it commits, so that time is the commit as seen here.
 */
export class NftMonitor {
  /** Lines seen so far. */
  lines = 0;
  /** The last lines seen (for error messages). */
  readonly recent: string[] = [];
  private buf = '';
  private waiters: Waiter[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => this.onData(d));
    child.stderr!.resume();
  }

  /** The `nft monitor` process id. */
  get pid(): number {
    return this.child.pid!;
  }

  /**
   * Starts `nft monitor` in `ns` and waits until it shows a probe transaction. nft first reads
   * every table, set and element of the namespace (seconds at 100,000 elements) and starts that
   * over whenever a commit lands meanwhile, so nothing may commit until it is done: the probe
   * waits until the monitor has used no CPU for a second (`busy` processes quiet as well).
   */
  static async start(
    net: TestNet,
    ns: string,
    busy: readonly number[] = [],
    timeoutMs = 600_000,
  ): Promise<NftMonitor> {
    const mon = new NftMonitor(net.spawn(ns, ['nft', 'monitor']));
    const t0 = nowMs();
    for (let i = 0; ; i++) {
      await waitIdle([mon.pid, ...busy], 1_000, timeoutMs);
      const table = `pnbench-ready-${i}`;
      const seen = mon
        .expect((l) => l.includes(`add table ip ${table}`), 5_000)
        .then(
          () => true,
          () => false,
        );
      await net.exec(ns, ['nft', `add table ip ${table}; delete table ip ${table}`]);
      if (await seen) return mon;
      if (nowMs() - t0 > timeoutMs) {
        mon.close();
        throw new Error(`nft monitor showed no probe within ${timeoutMs} ms`);
      }
    }
  }

  /** Resolves with the arrival time of the next line matching `match`. */
  expect(match: (line: string) => boolean, timeoutMs = 30_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(
            new Error(
              `no matching nft monitor line within ${timeoutMs} ms; last lines:\n${this.recent.join('\n')}`,
            ),
          );
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /** Stops the monitor. */
  close(): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error('monitor closed'));
    }
    this.waiters = [];
    this.child.kill('SIGKILL');
  }

  private onData(d: string): void {
    const at = nowMs();
    this.buf += d;
    let nl = this.buf.indexOf('\n');
    while (nl >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      this.lines++;
      this.recent.push(line);
      if (this.recent.length > 30) this.recent.shift();
      if (this.waiters.length > 0) {
        const hit = this.waiters.filter((w) => w.match(line));
        if (hit.length > 0) {
          this.waiters = this.waiters.filter((w) => !hit.includes(w));
          for (const w of hit) {
            clearTimeout(w.timer);
            w.resolve(at);
          }
        }
      }
      nl = this.buf.indexOf('\n');
    }
  }
}

/**
 * The numeric fields of `/proc/PID/stat` after the command name (index 0 is field 3, the
 * state, which reads as NaN); `undefined` when the process is gone.
 */
function procStat(pid: number): number[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
  } catch {
    return undefined;
  }
}

/** User + system CPU time of process `pid` in clock ticks (usually 10 ms each). */
export function cpuTicks(pid: number): number {
  const f = procStat(pid);
  if (!f) throw new Error(`no process ${pid}`);
  return f[11]! + f[12]!;
}

/**
 * Major page faults of a process so far (`/proc/PID/stat` majflt): pages read back from disk,
 * e.g. code the kernel reclaimed while it went unused (0 when the process is gone).
 */
export function majorFaults(pid: number): number {
  return procStat(pid)?.[9] ?? 0;
}

/** CPU ticks of several processes together (a process that is gone counts 0). */
function ticksOf(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += cpuTicks(pid);
    } catch {}
  }
  return sum;
}

/**
 * Waits until processes `pids` used no CPU for `quietMs` (read every 10 ms), at most `maxMs`.
 * Resolves with how long it waited.
 */
export async function waitIdle(
  pids: readonly number[],
  quietMs = 60,
  maxMs = 10_000,
): Promise<number> {
  const t0 = nowMs();
  let last = ticksOf(pids);
  let since = nowMs();
  for (;;) {
    await new Promise((r) => setTimeout(r, 10));
    const now = nowMs();
    const ticks = ticksOf(pids);
    if (ticks !== last) {
      last = ticks;
      since = now;
    } else if (now - since >= quietMs) return now - t0;
    if (now - t0 > maxMs) return now - t0;
  }
}

/** The processes running in network namespace `ns`, with their command lines. */
export function processesIn(ns: string): Promise<Array<{ pid: number; cmdline: string }>> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'pids', ns], { encoding: 'utf8' }, (err, stdout) => {
      if (err) return reject(err);
      const out: Array<{ pid: number; cmdline: string }> = [];
      for (const p of stdout.split(/\s+/).filter(Boolean)) {
        try {
          const cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim();
          out.push({ pid: Number(p), cmdline });
        } catch {}
      }
      resolve(out);
    });
  });
}

/** Resident and peak resident memory of process `pid`, in MiB (`/proc/PID/status`). */
export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
}

/** True when `line` names IPv4 address `ip` (not as a prefix of a longer address). */
export function mentionsIp(line: string, ip: string): boolean {
  let at = line.indexOf(ip);
  while (at >= 0) {
    const before = at === 0 ? ' ' : line[at - 1]!;
    const after = line[at + ip.length] ?? ' ';
    if (!/[\d.]/.test(before) && !/\d/.test(after)) return true;
    at = line.indexOf(ip, at + 1);
  }
  return false;
}
