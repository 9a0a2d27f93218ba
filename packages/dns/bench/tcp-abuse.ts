/**
 * DNS over TCP under abuse, the same for every server: idle connections, slowloris connections
 * (one byte of a query every 200 ms) and clients that pipeline queries with large answers and
 * never read, all from 127.0.0.0/8 source addresses, bounded in count and time (every abuser
 * reconnects when the server closes it, until the phase ends). Meanwhile a valid client from
 * 127.0.0.1 asks one query per new TCP connection (as a stub resolver does after a truncated UDP
 * answer) and counts the answers; the server's RSS is sampled throughout.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { encodeQuery } from '../src/index.js';

/** Endpoints of the large answer the pipelining abusers ask for (~1.7 kB per answer). */
export const BIG_ENDPOINTS = 100;
/** The name with {@link BIG_ENDPOINTS} A records, in both servers' data. */
export const BIG_NAME = 'big.ns-0.svc.cluster.local';

/** The abuse, per server. */
export const ABUSE = {
  /** Idle connections: 7 sources × 100 (with the rest, 904 abusers: below podnet's 1,000). */
  idleSources: 7,
  idlePerSource: 100,
  /** Slowloris connections: 2 sources × 100, one byte every `slowlorisEveryMs`. */
  slowlorisSources: 2,
  slowlorisPerSource: 100,
  slowlorisEveryMs: 200,
  /** Clients that pipeline `pipelinedQueries` queries for BIG_NAME and never read. */
  pipeliners: 4,
  pipelinedQueries: 50_000,
  /** Time the abuse runs before the valid client starts measuring. */
  settleMs: 1_500,
} as const;

const VALID_SECONDS = 5;
const CLEAN_SECONDS = 3;
const QUERY_TIMEOUT_MS = 1_000;

/** Kubernetes objects for the large answer (a headless Service and its EndpointSlice). */
export function bigObjects(): object[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'big', namespace: 'ns-0' },
      spec: { clusterIP: 'None', ports: [{ name: 'web', port: 80 }] },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'big-1',
        namespace: 'ns-0',
        labels: { 'kubernetes.io/service-name': 'big' },
      },
      addressType: 'IPv4',
      ports: [{ name: 'web', port: 80, protocol: 'TCP' }],
      endpoints: Array.from({ length: BIG_ENDPOINTS }, (_, i) => ({
        addresses: [bigIp(i)],
        conditions: { ready: true },
      })),
    },
  ];
}

/** Zone-file lines (origin cluster.local.) for the same large answer. */
export function bigZoneLines(): string[] {
  return Array.from({ length: BIG_ENDPOINTS }, (_, i) => `big.ns-0.svc A ${bigIp(i)}`);
}

function bigIp(i: number): string {
  return `10.8.${i >> 8}.${i & 0xff}`;
}

function frame(name: string, id: number): Buffer {
  const q = encodeQuery({ id: id & 0xffff, name, type: 'A' });
  const out = Buffer.alloc(2 + q.length);
  out.writeUInt16BE(q.length, 0);
  out.set(q, 2);
  return out;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** What the valid client saw. */
export interface ValidRate {
  attempted: number;
  answered: number;
  /** Answers per second. */
  qps: number;
  /** Answered share of attempts, in %. */
  answeredPct: number;
  /** Median time from connect to answer, in ms. */
  p50Ms: number;
}

/**
 * A valid client: one query per new TCP connection from 127.0.0.1, one at a time, for `seconds`;
 * a query not answered within 1 s (or a connection refused or closed) counts as unanswered.
 */
async function validClient(port: number, name: string, seconds: number): Promise<ValidRate> {
  const end = performance.now() + seconds * 1000;
  let attempted = 0;
  let answered = 0;
  const times: number[] = [];
  while (performance.now() < end) {
    attempted++;
    const t0 = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.createConnection({ host: '127.0.0.1', port });
      let buf = Buffer.alloc(0);
      const done = (v: boolean) => {
        clearTimeout(timer);
        sock.destroy();
        resolve(v);
      };
      const timer = setTimeout(() => done(false), QUERY_TIMEOUT_MS);
      sock.on('error', () => done(false));
      sock.on('close', () => done(false));
      sock.on('connect', () => sock.write(frame(name, attempted)));
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(true);
      });
    });
    if (ok) {
      answered++;
      times.push(performance.now() - t0);
    }
  }
  times.sort((a, b) => a - b);
  return {
    attempted,
    answered,
    qps: answered / seconds,
    answeredPct: attempted ? (answered / attempted) * 100 : 0,
    p50Ms: times[Math.floor(times.length / 2)] ?? Number.NaN,
  };
}

/** Abusers of one kind that reconnect when closed, until stopped. */
class Abuse {
  private stopped = false;
  private readonly sockets = new Set<net.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Connections the abusers opened (including reconnects) and saw closed by the server. */
  connects = 0;
  closedByServer = 0;

  constructor(private readonly port: number) {}

  /** Keeps one connection from `localAddress` open, calling `use` on each (re)connect. */
  keep(localAddress: string, use: (sock: net.Socket) => void): Promise<void> {
    return new Promise<void>((firstUp) => {
      const open = (): void => {
        if (this.stopped) {
          firstUp();
          return;
        }
        const sock = net.createConnection({ host: '127.0.0.1', port: this.port, localAddress });
        this.sockets.add(sock);
        sock.on('error', () => undefined);
        sock.on('connect', () => {
          this.connects++;
          use(sock);
          firstUp();
        });
        sock.on('close', () => {
          this.sockets.delete(sock);
          if (this.stopped) return;
          this.closedByServer++;
          const t = setTimeout(() => {
            this.timers.delete(t);
            open();
          }, 50);
          this.timers.add(t);
        });
      };
      open();
    });
  }

  /** A timer cleared at {@link stop}. */
  every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    this.timers.add(t);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
  }
}

/** The numbers of one server. */
export interface AbuseResult {
  clean: ValidRate;
  abused: ValidRate;
  rssBeforeMb: number;
  rssPeakMb: number;
  rssAfterMb: number;
  /** Abuser connections opened, and how many of them the server closed, during the phase. */
  abuserConnects: number;
  abuserClosedByServer: number;
}

/** Runs the valid client without and then under {@link ABUSE} against one server. */
export async function underAbuse(
  pid: number,
  port: number,
  validName: string,
): Promise<AbuseResult> {
  const clean = await validClient(port, validName, CLEAN_SECONDS);
  const rssBeforeMb = rssMb(pid);
  let rssPeakMb = rssBeforeMb;
  const sampler = setInterval(() => {
    rssPeakMb = Math.max(rssPeakMb, rssMb(pid));
  }, 100);
  const abuse = new Abuse(port);
  let result: AbuseResult;
  try {
    const up: Promise<void>[] = [];
    for (let s = 0; s < ABUSE.idleSources; s++)
      for (let i = 0; i < ABUSE.idlePerSource; i++)
        up.push(abuse.keep(`127.0.0.${10 + s}`, () => undefined));
    const slow = frame(validName, 1);
    for (let s = 0; s < ABUSE.slowlorisSources; s++)
      for (let i = 0; i < ABUSE.slowlorisPerSource; i++)
        up.push(
          abuse.keep(`127.0.0.${30 + s}`, (sock) => {
            let sent = 0;
            const drip = setInterval(() => {
              if (sock.destroyed) {
                clearInterval(drip);
                return;
              }
              sock.write(slow.subarray(sent % slow.length, (sent % slow.length) + 1));
              sent++;
            }, ABUSE.slowlorisEveryMs);
            sock.once('close', () => clearInterval(drip));
          }),
        );
    const flood = Buffer.concat(
      Array.from({ length: ABUSE.pipelinedQueries }, (_, i) => frame(BIG_NAME, i)),
    );
    for (let p = 0; p < ABUSE.pipeliners; p++)
      up.push(
        abuse.keep(`127.0.0.${40 + p}`, (sock) => {
          sock.pause(); // never reads
          sock.write(flood);
        }),
      );
    // A server that stops accepting leaves connects in SYN retries for minutes: wait at most 5 s.
    await Promise.race([Promise.all(up), new Promise((r) => setTimeout(r, 5_000))]);
    await new Promise((r) => setTimeout(r, ABUSE.settleMs));
    const abused = await validClient(port, validName, VALID_SECONDS);
    result = {
      clean,
      abused,
      rssBeforeMb,
      rssPeakMb: Math.max(rssPeakMb, rssMb(pid)),
      rssAfterMb: Number.NaN,
      abuserConnects: abuse.connects,
      abuserClosedByServer: abuse.closedByServer,
    };
  } finally {
    abuse.stop();
    clearInterval(sampler);
  }
  // What the server still holds once the abusers are gone.
  await new Promise((r) => setTimeout(r, 1_500));
  result.rssAfterMb = rssMb(pid);
  return result;
}
