import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { assertInt, assertNetnsName } from '@podnet/host';
import { NetpolError } from './errors.js';
import { NflogPcapDecoder, type VerdictLogRecord } from './verdict-log.js';

/** Options of {@link readVerdictLogs}. */
export interface VerdictLogReaderOptions {
  /** NFLOG group the ruleset logs to (`CompileOptions.log.group`). */
  group: number;
  /**
   * Network namespace whose NFLOG to read: a name under /run/netns, or `{ path }` (e.g.
   * `/proc/PID/ns/net`); default the current one.
   */
  netns?: string | { path: string };
  /** Kernel receive buffer for the NFLOG socket in KiB (`tcpdump -B`); default tcpdump's. */
  bufferKiB?: number;
  /**
   * End the capture when this process dies, even by SIGKILL (util-linux `setpriv --pdeathsig`):
   * an orphaned capture would keep the NFLOG group bound, and the next reader could not bind it.
   */
  dieWithParent?: boolean;
  /** Called for every verdict record. */
  onRecord: (record: VerdictLogRecord) => void;
  /** Called when the capture fails or stops unexpectedly. */
  onError?: (error: Error) => void;
  /** The capture binary (default `tcpdump`). */
  tcpdump?: string;
}

/** A running NFLOG reader. */
export interface VerdictLogReader {
  /** Resolves once the capture is listening (the kernel binds the group). */
  ready: Promise<void>;
  /** Stops the capture. */
  stop(): Promise<void>;
  /** The capture process (the NFLOG socket's owner; see {@link nflogSocketDrops}). */
  readonly pid?: number;
}

/** `NETLINK_NETFILTER`, the protocol of NFLOG sockets in `/proc/net/netlink`. */
const NETLINK_NETFILTER = 12;

/**
 * Sums the `Drops` column of `/proc/net/netlink` text over the NETLINK_NETFILTER sockets whose
 * inode is in `inodes`: the records the kernel could not queue to those sockets (a full receive
 * buffer). Pure.
 */
export function parseNetlinkDrops(text: string, inodes: ReadonlySet<string>): number {
  let drops = 0;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || Number(f[1]) !== NETLINK_NETFILTER) continue;
    if (inodes.has(f[9] as string)) drops += Number(f[8]) || 0;
  }
  return drops;
}

/**
 * Records the kernel dropped before the capture process `pid` read them (its NFLOG socket's
 * `Drops` in `/proc/PID/net/netlink`, which is the namespace the process is in); `undefined`
 * when the process is gone or unreadable.
 */
export function nflogSocketDrops(pid: number): number | undefined {
  try {
    const inodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1] as string);
      } catch {
        // the descriptor closed meanwhile
      }
    }
    return parseNetlinkDrops(readFileSync(`/proc/${pid}/net/netlink`, 'utf8'), inodes);
  } catch {
    return undefined;
  }
}

/**
 * Subscribes to an NFLOG group through `tcpdump -i nflog:GROUP -w -` (no packets are copied
 * beyond the log records) and turns each record into a {@link VerdictLogRecord}.
 */
export function readVerdictLogs(options: VerdictLogReaderOptions): VerdictLogReader {
  assertInt(options.group, 0, 65535, 'nflog group');
  const argv = [
    options.tcpdump ?? 'tcpdump',
    '-n',
    '-U',
    '-s',
    '256',
    // stay root: dropping to the tcpdump user would clear the parent death signal
    ...(options.dieWithParent ? ['-Z', 'root'] : []),
    ...(options.bufferKiB === undefined
      ? []
      : ['-B', String(assertInt(options.bufferKiB, 1, 1_048_576, 'nflog buffer KiB'))]),
    '-w',
    '-',
    '-i',
    `nflog:${options.group}`,
  ];
  const ns = options.netns;
  const nsPath =
    ns === undefined
      ? undefined
      : typeof ns === 'string'
        ? `/run/netns/${assertNetnsName(ns)}`
        : ns.path;
  const inNs = nsPath ? ['nsenter', `--net=${nsPath}`, '--', ...argv] : argv;
  const full = options.dieWithParent ? ['setpriv', '--pdeathsig', 'TERM', '--', ...inNs] : inNs;
  const child: ChildProcess = spawn(full[0] as string, full.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const decoder = new NflogPcapDecoder();
  let stopped = false;
  let stderr = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('listening on')) resolve();
    });
    child.once('error', (e) =>
      reject(
        new NetpolError('APPLY_FAILED', `cannot start ${argv[0]}: ${e.message}`, { cause: e }),
      ),
    );
    child.once('exit', (code) => {
      if (!stopped) {
        const err = new NetpolError('APPLY_FAILED', `${argv[0]} exited ${code}: ${stderr.trim()}`);
        reject(err);
        options.onError?.(err);
      }
    });
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    try {
      for (const r of decoder.push(chunk)) options.onRecord(r);
    } catch (e) {
      options.onError?.(e as Error);
    }
  });
  return {
    ready,
    ...(child.pid === undefined ? {} : { pid: child.pid }),
    stop: () =>
      new Promise<void>((resolve) => {
        stopped = true;
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
