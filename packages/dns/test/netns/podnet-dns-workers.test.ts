import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type TestNet, createTestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../../dist/bin/podnet-dns.js');
const Z = 'cluster.local';
const SERVICES = 40;

function manifests(): string {
  const docs = ['apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n'];
  for (let i = 0; i < SERVICES; i++)
    docs.push(
      `apiVersion: v1\nkind: Service\nmetadata: { name: svc-${i}, namespace: shop }\n` +
        `spec: { clusterIP: 10.96.7.${i + 1}, ports: [{ port: 80 }] }\n`,
    );
  return docs.join('---\n');
}

interface WorkerCounts {
  datagrams: number[];
  answered: number[];
  toMain: number[];
}

function workerCounts(metrics: string): WorkerCounts {
  const read = (family: string): number[] => {
    const out: number[] = [];
    for (const m of metrics.matchAll(new RegExp(`^${family}\\{worker="(\\d+)"\\} (\\S+)$`, 'gm')))
      out[Number(m[1])] = Number(m[2]);
    return out;
  };
  return {
    datagrams: read('podnet_dns_udp_worker_datagrams_total'),
    answered: read('podnet_dns_udp_worker_answered_total'),
    toMain: read('podnet_dns_udp_worker_to_main_total'),
  };
}

/** podnet-dns in a namespace of its own, queried from another over a veth pair. */
async function startServer(
  flags: string[],
  env?: NodeJS.ProcessEnv,
): Promise<{ net: TestNet; client: string; dir: string; out: string[]; child: ChildProcess }> {
  const net = createTestNet();
  const server = await net.ns('dns');
  const client = await net.ns('cli');
  await net.veth(
    { ns: server, name: 'eth0', addrs: ['10.78.0.1/24'] },
    { ns: client, name: 'eth0', addrs: ['10.78.0.2/24'] },
  );
  const dir = mkdtempSync(join(tmpdir(), 'podnet-dns-workers-'));
  writeFileSync(join(dir, 'cluster.yaml'), manifests());
  const out: string[] = [];
  const child = net.spawn(
    server,
    [
      process.execPath,
      BIN,
      '--manifests',
      dir,
      '--address',
      '10.78.0.1',
      '--port',
      '53',
      '--http-port',
      '8080',
      ...flags,
    ],
    { env },
  );
  child.stdout?.on('data', (d: Buffer) => out.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => out.push(d.toString()));
  await waitFor(() => out.join('').includes('"event":"listening"'), {
    timeoutMs: 30_000,
    what: `podnet-dns to listen (output: ${out.join('')})`,
  });
  return { net, client, dir, out, child };
}

describe('podnet-dns --workers 2: two SO_REUSEPORT worker threads', () => {
  let net: TestNet;
  let client: string;
  let dir: string;
  let out: string[] = [];

  beforeAll(async () => {
    ({ net, client, dir, out } = await startServer(['--workers', '2']));
  });
  afterAll(async () => {
    await net?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const dig = async (...args: string[]): Promise<string> =>
    (
      await net.exec(client, ['dig', '@10.78.0.1', '+tries=2', '+time=5', ...args], {
        timeoutMs: 30_000,
      })
    ).stdout.trim();
  const metrics = async (): Promise<string> =>
    (
      await net.exec(client, ['busybox', 'wget', '-qO-', 'http://10.78.0.1:8080/metrics'], {
        timeoutMs: 20_000,
      })
    ).stdout;
  /**
   * dnsperf from the client namespace: `clients` source ports, `seconds` long (32 ports: the
   * chance that the kernel hashes them all onto one of the two sockets is 2^-31).
   */
  const dnsperf = async (names: string[], clients: number, seconds: number) => {
    const file = join(dir, `queries-${Date.now()}.txt`);
    writeFileSync(file, `${names.map((n) => `${n} A`).join('\n')}\n`);
    const r = await net.exec(
      client,
      ['dnsperf', '-s', '10.78.0.1', '-d', file, '-l', String(seconds), '-c', String(clients)],
      { timeoutMs: 60_000 },
    );
    return {
      completed: Number(/Queries completed:\s+(\d+)/.exec(r.stdout)?.[1]),
      sent: Number(/Queries sent:\s+(\d+)/.exec(r.stdout)?.[1]),
      noerror: Number(/NOERROR (\d+)/.exec(r.stdout)?.[1] ?? 0),
      nxdomain: Number(/NXDOMAIN (\d+)/.exec(r.stdout)?.[1] ?? 0),
    };
  };

  it('listens with two workers on the native path', () => {
    const listening = out
      .join('')
      .split('\n')
      .find((l) => l.includes('"event":"listening"'));
    expect(JSON.parse(listening as string)).toMatchObject({
      udpPath: 'native',
      udpWorkers: 2,
      port: 53,
    });
  });

  it('answers many queries from many source ports, and both workers answer', async () => {
    const names = Array.from({ length: SERVICES }, (_, i) => `svc-${i}.shop.svc.${Z}`);
    const r = await dnsperf([...names, `missing.shop.svc.${Z}`], 32, 2);
    expect(r.completed).toBeGreaterThan(500);
    // every query was answered: the names from the workers, the missing one by the main thread
    expect(r.completed).toBe(r.sent);
    expect(r.noerror + r.nxdomain).toBe(r.completed);
    expect(r.nxdomain).toBeGreaterThan(0);
    const c = workerCounts(await metrics());
    expect(c.answered).toHaveLength(2);
    expect(c.answered[0]).toBeGreaterThan(0);
    expect(c.answered[1]).toBeGreaterThan(0);
    // the negative answers were made on the main thread and sent back through the workers
    expect((c.toMain[0] as number) + (c.toMain[1] as number)).toBeGreaterThan(0);
    // the totals are the workers' counts plus the main thread's
    const m = await metrics();
    const udpA = Number(/podnet_dns_requests_total\{proto="udp",type="A"\} (\d+)/.exec(m)?.[1]);
    expect(udpA).toBeGreaterThanOrEqual(r.completed);
    // and dig sees the right addresses
    expect(await dig('+short', `svc-3.shop.svc.${Z}`)).toBe('10.96.7.4');
    expect(await dig(`missing.shop.svc.${Z}`)).toMatch(/status: NXDOMAIN/);
    expect(await dig('+tcp', '+short', `svc-5.shop.svc.${Z}`)).toBe('10.96.7.6');
  });

  it('a Service added after start is answered by every worker, from the first query after the update', async () => {
    // asked before it exists: NXDOMAIN, which each worker then remembers for the current zone
    const missing = await dnsperf([`later.shop.svc.${Z}`], 32, 1);
    expect(missing.nxdomain).toBe(missing.completed);
    const remembered = workerCounts(await metrics());
    const nx = await dnsperf([`later.shop.svc.${Z}`], 32, 1);
    expect(nx.nxdomain).toBe(nx.completed);
    const nxAfter = workerCounts(await metrics());
    for (const w of [0, 1]) {
      // answered in each worker, not handed to the main thread again
      expect((nxAfter.answered[w] as number) - (remembered.answered[w] as number)).toBeGreaterThan(
        0,
      );
      expect(nxAfter.toMain[w]).toBe(remembered.toMain[w]);
    }
    writeFileSync(
      join(dir, 'later.yaml'),
      'kind: Service\napiVersion: v1\nmetadata: { name: later, namespace: shop }\nspec: { clusterIP: 10.96.8.8 }\n',
    );
    await waitFor(
      () =>
        out
          .join('')
          .split('\n')
          .filter((l) => l.includes('"update":"patch"')).length > 0,
      { timeoutMs: 20_000, what: 'the zone patch for the added Service' },
    );
    const before = workerCounts(await metrics());
    // each dig asks from a new source port: the kernel spreads them over both workers
    const answers: string[] = [];
    for (let i = 0; i < 24; i++) answers.push(await dig('+short', `later.shop.svc.${Z}`));
    expect(answers).toEqual(Array(24).fill('10.96.8.8'));
    const r = await dnsperf([`later.shop.svc.${Z}`], 32, 1);
    expect(r.noerror).toBe(r.completed);
    const after = workerCounts(await metrics());
    for (const w of [0, 1]) {
      // each worker answered the new name itself, from the shared zone
      expect((after.answered[w] as number) - (before.answered[w] as number)).toBeGreaterThan(0);
      expect(after.toMain[w]).toBe(before.toMain[w]);
    }
  });
});

describe('podnet-dns --workers 2 without the native path (PODNET_DNS_UDP=dgram)', () => {
  let net: TestNet;
  let client: string;
  let dir: string;
  let out: string[];

  beforeAll(async () => {
    ({ net, client, dir, out } = await startServer(['--workers', '2'], {
      ...process.env,
      PODNET_DNS_UDP: 'dgram',
    }));
  });
  afterAll(async () => {
    await net?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves UDP on one dgram socket on the main thread, says so once, and answers', async () => {
    // the warning is written right after the listening line
    await waitFor(() => out.join('').includes('UDP workers need the native UDP path'), {
      timeoutMs: 10_000,
      what: 'the fallback to be logged',
    });
    const text = out.join('');
    const listening = text.split('\n').find((l) => l.includes('"event":"listening"'));
    expect(JSON.parse(listening as string)).toMatchObject({ udpPath: 'dgram', udpWorkers: 1 });
    expect(text.match(/UDP workers need the native UDP path/g)).toHaveLength(1);
    const dig = async (name: string): Promise<string> =>
      (
        await net.exec(client, ['dig', '@10.78.0.1', '+tries=2', '+time=5', '+short', name], {
          timeoutMs: 30_000,
        })
      ).stdout.trim();
    for (let i = 0; i < 4; i++)
      expect(await dig(`svc-${i}.shop.svc.${Z}`)).toBe(`10.96.7.${i + 1}`);
    const m = (
      await net.exec(client, ['busybox', 'wget', '-qO-', 'http://10.78.0.1:8080/metrics'], {
        timeoutMs: 20_000,
      })
    ).stdout;
    expect(m).toContain('podnet_dns_udp_path{path="dgram"} 1');
    expect(m).not.toContain('podnet_dns_udp_worker_');
  });
});
