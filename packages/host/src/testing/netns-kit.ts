import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { HostError } from '../errors.js';
import { Host } from '../host.js';
import { ExecRunner, type RunResult } from '../runner.js';
import { assertIfName, assertNetnsName } from '../validate.js';

/** Every namespace the kit makes starts with this, then the creating PID in base 36. */
export const TEST_NETNS_PREFIX = 'pnt-';

/** Options for {@link TestNet.exec}. */
export interface TestExecOptions {
  input?: string;
  timeoutMs?: number;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFail?: boolean;
  /** Use `ip netns exec` so `/etc/netns/NAME/*` is bind-mounted (e.g. a pod's resolv.conf). */
  mountEtc?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** One end of a veth pair for {@link TestNet.veth}. */
export interface VethEnd {
  ns: string;
  name: string;
  /** Addresses in CIDR form, e.g. `10.0.0.1/24`. */
  addrs?: string[];
  mtu?: number;
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50, what = 'condition' } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function pidAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

function deleteNetnsSync(name: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' })
      .split(/\s+/)
      .filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {}
    }
  } catch {}
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {}
}

/**
 * Removes namespaces left by earlier test runs whose process is gone. Safe to call any time: it
 * touches only `pnt-*` namespaces whose creator PID no longer exists.
 */
export function sweepStaleTestNets(): string[] {
  if (!existsSync('/run/netns')) return [];
  const removed: string[] = [];
  for (const name of readdirSync('/run/netns')) {
    if (!name.startsWith(TEST_NETNS_PREFIX)) continue;
    const pid = Number.parseInt(name.slice(TEST_NETNS_PREFIX.length).split('-')[0] ?? '', 36);
    if (Number.isFinite(pid) && pid > 0 && pidAlive(pid)) continue;
    deleteNetnsSync(name);
    removed.push(name);
  }
  return removed;
}

const live = new Set<TestNet>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const net of live) net.cleanupSync();
  });
}

/**
 * A set of network namespaces (and the links and processes in them) made for one test. Names are
 * `pnt-<pid>-<random>-<short>`, unique per run; {@link TestNet.cleanup} removes all of it, and a
 * crashed run's leftovers are swept by the next {@link createTestNet}.
 */
export class TestNet {
  readonly prefix: string;
  readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly runner = new ExecRunner();

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** Creates namespace `<prefix><short>` with `lo` up and returns its full name. */
  async ns(short: string): Promise<string> {
    const name = assertNetnsName(`${this.prefix}${short}`);
    await this.run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await this.run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** A {@link Host} aimed at one of this net's namespaces. */
  host(ns: string): Host {
    return new Host({ runner: this.runner, netns: { name: ns } });
  }

  /** Creates a veth pair between two namespaces (one `ip -batch` per side), addresses, up. */
  async veth(a: VethEnd, b: VethEnd): Promise<void> {
    assertIfName(a.name);
    assertIfName(b.name);
    const tmp = `pnv${randomBytes(4).toString('hex')}`;
    await this.host(a.ns).ipBatch([
      ['link', 'add', a.name, 'type', 'veth', 'peer', 'name', tmp],
      ['link', 'set', tmp, 'netns', b.ns],
    ]);
    await this.host(b.ns).ipBatch([['link', 'set', tmp, 'name', b.name]]);
    for (const end of [a, b]) {
      await this.host(end.ns).ipBatch([
        ...(end.mtu ? [['link', 'set', end.name, 'mtu', String(end.mtu)]] : []),
        ...(end.addrs ?? []).map((addr) => [
          'addr',
          'add',
          addr,
          'dev',
          end.name,
          ...(addr.includes(':') ? ['nodad'] : []),
        ]),
        ['link', 'set', end.name, 'up'],
      ]);
    }
  }

  /** Creates a bridge in `ns`, up, with optional addresses, and enslaves `ports`. */
  async bridge(ns: string, name: string, opts: { addrs?: string[]; ports?: string[] } = {}) {
    await this.host(ns).ipBatch([
      ['link', 'add', assertIfName(name), 'type', 'bridge'],
      ...(opts.addrs ?? []).map((a) => ['addr', 'add', a, 'dev', name]),
      ...(opts.ports ?? []).map((p) => ['link', 'set', assertIfName(p), 'master', name]),
      ['link', 'set', name, 'up'],
    ]);
  }

  /** Runs argv inside `ns`; throws with stderr on a non-zero exit unless `allowFail`. */
  async exec(ns: string, argv: readonly string[], opts: TestExecOptions = {}): Promise<RunResult> {
    const full = opts.mountEtc
      ? ['ip', 'netns', 'exec', assertNetnsName(ns), ...argv]
      : ['nsenter', `--net=/run/netns/${assertNetnsName(ns)}`, '--', ...argv];
    const runner = opts.env ? new ExecRunner({ env: opts.env }) : this.runner;
    const result = await runner.run({ argv: full, stdin: opts.input, timeoutMs: opts.timeoutMs });
    if (result.code !== 0 && !opts.allowFail) {
      throw new HostError(
        'COMMAND_FAILED',
        `${argv.join(' ')} in ${ns} exited ${result.code}: ${result.stderr.trim()}`,
        {
          command: full,
          stderr: result.stderr,
          exitCode: result.code,
        },
      );
    }
    return result;
  }

  /** Starts a long-running process inside `ns`; it is killed by {@link TestNet.cleanup}. */
  spawn(ns: string, argv: readonly string[], opts: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const child = spawn('nsenter', [`--net=/run/netns/${assertNetnsName(ns)}`, '--', ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** True when one ping from `ns` to `ip` is answered within `timeoutS` seconds. */
  async ping(ns: string, ip: string, { count = 1, timeoutS = 2, extra = [] as string[] } = {}) {
    const r = await this.exec(
      ns,
      ['ping', '-n', '-q', '-c', String(count), '-W', String(timeoutS), ...extra, ip],
      { allowFail: true, timeoutMs: (timeoutS * count + 5) * 1000 },
    );
    return r.code === 0;
  }

  /** Waits until `ip` answers ping from `ns`. */
  async waitForPing(ns: string, ip: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.ping(ns, ip, { timeoutS: 1 }), {
      timeoutMs,
      what: `${ip} to answer ping from ${ns}`,
    });
  }

  /** Waits until a TCP connect from `ns` to `ip:port` succeeds (uses bash's /dev/tcp). */
  async waitForTcp(ns: string, ip: string, port: number, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      async () =>
        (
          await this.exec(ns, ['timeout', '2', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}`], {
            allowFail: true,
          })
        ).code === 0,
      { timeoutMs, what: `tcp ${ip}:${port} from ${ns}` },
    );
  }

  /** Kills spawned processes and deletes every namespace (with what runs in it). Idempotent. */
  async cleanup(): Promise<void> {
    this.cleanupSync();
  }

  /** Synchronous form of {@link TestNet.cleanup}, used from the process `exit` hook. */
  cleanupSync(): void {
    for (const child of this.children) child.kill('SIGKILL');
    this.children.clear();
    for (const ns of this.namespaces.splice(0).reverse()) deleteNetnsSync(ns);
    live.delete(this);
  }

  private async run(argv: string[]): Promise<void> {
    const r = await this.runner.run({ argv });
    if (r.code !== 0) {
      throw new HostError(
        'COMMAND_FAILED',
        `${argv.join(' ')} exited ${r.code}: ${r.stderr.trim()}`,
        {
          command: argv,
          stderr: r.stderr,
          exitCode: r.code,
        },
      );
    }
  }
}

/**
 * Makes a {@link TestNet} with a prefix unique to this process and call, after sweeping leftovers
 * of crashed runs. Pair it with `afterAll(() => net.cleanup())`.
 */
export function createTestNet(): TestNet {
  sweepStaleTestNets();
  installExitHook();
  const prefix = `${TEST_NETNS_PREFIX}${process.pid.toString(36)}-${randomBytes(2).toString('hex')}-`;
  const net = new TestNet(prefix);
  live.add(net);
  return net;
}

/** Resolves when a TCP connection to `host:port` on this host's own stack (e.g. loopback) opens. */
export async function waitForLocalTcp(
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = createConnection({ host, port });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
    { timeoutMs, what: `tcp ${host}:${port}` },
  );
}
