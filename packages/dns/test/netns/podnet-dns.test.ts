import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type TestNet, createTestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../../dist/bin/podnet-dns.js');
const Z = 'cluster.local';

const manifests = `apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  clusterIP: 10.96.5.5
  ports: [{ name: http, port: 80, protocol: TCP }]
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec:
  clusterIP: None
  selector: { app: db }
  ports: [{ name: pg, port: 5432 }]
---
apiVersion: v1
kind: Pod
metadata: { name: db-0, namespace: shop, labels: { app: db } }
spec: { hostname: db-0, subdomain: db }
status:
  podIP: 10.244.0.7
  conditions: [{ type: Ready, status: "True" }]
`;

/** The complete lines of the output so far. */
function lines(out: readonly string[]): string[] {
  return out.join('').split('\n').slice(0, -1);
}

describe('podnet-dns binary in a namespace, queried from another', () => {
  let net: TestNet;
  let server: string;
  let client: string;
  let child: ChildProcess;
  let dir: string;
  const out: string[] = [];

  beforeAll(async () => {
    net = createTestNet();
    server = await net.ns('dns');
    client = await net.ns('cli');
    await net.veth(
      { ns: server, name: 'eth0', addrs: ['10.77.0.1/24'] },
      { ns: client, name: 'eth0', addrs: ['10.77.0.2/24'] },
    );
    dir = mkdtempSync(join(tmpdir(), 'podnet-dns-'));
    writeFileSync(join(dir, 'cluster.yaml'), manifests);
    child = net.spawn(server, [
      process.execPath,
      BIN,
      '--manifests',
      dir,
      '--address',
      '10.77.0.1',
      '--port',
      '53',
      '--http-port',
      '8080',
      '--ttl',
      '30',
      '--upstream',
      '10.77.0.9',
    ]);
    child.stdout?.on('data', (d: Buffer) => out.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => out.push(d.toString()));
    await waitFor(() => out.join('').includes('"event":"listening"'), {
      timeoutMs: 30_000,
      what: `podnet-dns to listen (output: ${out.join('')})`,
    });
  });
  afterAll(async () => {
    await net?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const dig = async (...args: string[]): Promise<string> =>
    (
      await net.exec(client, ['dig', '@10.77.0.1', '+tries=2', '+time=5', '+short', ...args], {
        timeoutMs: 30_000,
      })
    ).stdout.trim();

  it('answers ClusterIP, SRV, PTR and headless-from-pods names over UDP and TCP', async () => {
    // the built binary serves UDP through the native batch path across the veth pair
    expect(out.join('')).toContain('"udpPath":"native"');
    for (const t of ['+notcp', '+tcp']) {
      expect(await dig(t, `web.shop.svc.${Z}`)).toBe('10.96.5.5');
      expect(await dig(t, `_http._tcp.web.shop.svc.${Z}`, 'SRV')).toBe(
        `0 100 80 web.shop.svc.${Z}.`,
      );
      expect(await dig(t, '-x', '10.96.5.5')).toBe(`web.shop.svc.${Z}.`);
      expect(await dig(t, `db.shop.svc.${Z}`)).toBe('10.244.0.7');
      expect(await dig(t, `db-0.db.shop.svc.${Z}`)).toBe('10.244.0.7');
      expect(await dig(t, `10-244-0-7.shop.pod.${Z}`)).toBe('10.244.0.7');
    }
  });

  it('drops its startup pages once up and keeps answering and reloading', async () => {
    await waitFor(() => out.join('').includes('"msg":"startup pages released"'), {
      timeoutMs: 30_000,
      what: `podnet-dns to release its startup pages (output: ${out.join('')})`,
    });
    const line = lines(out).find((l) => l.includes('"msg":"startup pages released"')) as string;
    const released = JSON.parse(line);
    expect(released.mappings).toBeGreaterThan(0);
    expect(released.releasedKb).toBeGreaterThan(10_000);
    expect(released.failed).toBeUndefined();
    for (const t of ['+notcp', '+tcp']) {
      expect(await dig(t, `web.shop.svc.${Z}`)).toBe('10.96.5.5');
      expect(await dig(t, '-x', '10.96.5.5')).toBe(`web.shop.svc.${Z}.`);
      expect(await dig(t, `10-244-0-7.shop.pod.${Z}`)).toBe('10.244.0.7');
    }
  });

  it('reloads when the manifests change', async () => {
    writeFileSync(
      join(dir, 'more.yaml'),
      'kind: Service\napiVersion: v1\nmetadata: { name: api, namespace: shop }\nspec: { clusterIP: 10.96.5.6 }\n',
    );
    await waitFor(async () => (await dig(`api.shop.svc.${Z}`)) === '10.96.5.6', {
      timeoutMs: 20_000,
      what: 'api.shop to resolve after reload',
    });
    // the first sync prepared every name; the added Service only its own
    const synced = lines(out).filter((l) => l.includes('"event":"synced"'));
    expect(JSON.parse(synced[0]!)).toMatchObject({ update: 'full' });
    expect(JSON.parse(synced.at(-1)!)).toMatchObject({ update: 'patch' });
  });

  it('logs an object the zone leaves out once, as a JSON line, and keeps patching the rest', async () => {
    // a label value may hold '_' and upper case, a DNS name may not: the slice is left out
    writeFileSync(
      join(dir, 'odd.yaml'),
      'kind: EndpointSlice\napiVersion: discovery.k8s.io/v1\n' +
        'metadata: { name: odd, namespace: shop, labels: { kubernetes.io/service-name: Web_1 } }\n' +
        'addressType: IPv4\nendpoints: [{ addresses: [10.244.0.9] }]\n',
    );
    await waitFor(() => lines(out).some((l) => l.includes('"object skipped"')), {
      timeoutMs: 20_000,
      what: 'the skipped slice to be logged',
    });
    writeFileSync(
      join(dir, 'later.yaml'),
      'kind: Service\napiVersion: v1\nmetadata: { name: later, namespace: shop }\nspec: { clusterIP: 10.96.5.8 }\n',
    );
    await waitFor(async () => (await dig(`later.shop.svc.${Z}`)) === '10.96.5.8', {
      timeoutMs: 20_000,
      what: 'a Service added after it to resolve',
    });
    const skipped = lines(out).filter((l) => l.includes('"object skipped"'));
    expect(skipped).toHaveLength(1);
    expect(JSON.parse(skipped[0]!)).toMatchObject({
      level: 'warn',
      object: 'EndpointSlice shop/odd',
      field: expect.stringMatching(
        /^endpointSlices\[\d+\]\.metadata\.labels\["kubernetes\.io\/service-name"\]$/,
      ),
      dropped: 'object',
    });
  });

  it('skips an invalid manifest with one logged line naming file and field, and keeps updating the rest', async () => {
    writeFileSync(
      join(dir, 'bad.yaml'),
      'kind: Service\napiVersion: v1\nmetadata: { name: Bad_Name, namespace: shop }\nspec: {}\n',
    );
    writeFileSync(
      join(dir, 'after.yaml'),
      'kind: Service\napiVersion: v1\nmetadata: { name: after, namespace: shop }\nspec: { clusterIP: 10.96.5.7 }\n',
    );
    await waitFor(async () => (await dig(`after.shop.svc.${Z}`)) === '10.96.5.7', {
      timeoutMs: 20_000,
      what: 'a Service added beside the bad file to resolve',
    });
    const skipped = out
      .join('')
      .split('\n')
      .filter((l) => l.includes('"manifest skipped"'));
    expect(skipped).toHaveLength(1);
    expect(JSON.parse(skipped[0]!)).toMatchObject({ file: 'bad.yaml', field: 'metadata.name' });
    expect(await dig(`web.shop.svc.${Z}`)).toBe('10.96.5.5');
  });

  it('serves health, ready and metrics over HTTP', async () => {
    const get = async (path: string) =>
      (
        await net.exec(client, ['busybox', 'wget', '-qO-', `http://10.77.0.1:8080${path}`], {
          timeoutMs: 20_000,
        })
      ).stdout;
    expect(await get('/health')).toBe('OK');
    expect(await get('/ready')).toBe('OK');
    const metrics = await get('/metrics');
    expect(metrics).toMatch(/podnet_dns_requests_total\{proto="tcp",type="A"\} [1-9]/);
    expect(metrics).toMatch(/podnet_dns_zone_updates_total\{mode="patch"\} [1-9]/);
    expect(metrics).toContain('podnet_dns_skipped_objects 1');
  });

  it('exits with a clear message on bad flags', async () => {
    const r = await net.exec(server, [process.execPath, BIN, '--manifests', dir, '--port', 'x'], {
      allowFail: true,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--port must be a non-negative integer/);
    const version = await net.exec(server, [process.execPath, BIN, '--version']);
    expect(version.stdout).toMatch(/^podnet-dns \d+\.\d+\.\d+/);
    const missing = await net.exec(server, [process.execPath, BIN], { allowFail: true });
    expect(missing.stderr).toMatch(/give exactly one of --manifests, --kubeconfig, --in-cluster/);
  });

  it.each([
    [
      ['--stub-domain', 'corp.example'],
      /--stub-domain must be DOMAIN=IP\[,IP\.\.\.\], got "corp.example"/,
    ],
    [['--stub-domain', 'corp.example=10.1.2.3,'], /--stub-domain must be DOMAIN=IP/],
    [
      ['--stub-domain', 'corp.example=10.1.2.3', '--stub-domain', 'corp.example=10.1.2.4'],
      /--stub-domain corp.example is given twice/,
    ],
    [['--stub-domain', 'corp.example=10.1.2.300'], /stubDomains\["corp.example"\]\[0\]/],
    [['--stub-domain', 'x.cluster.local=10.1.2.3'], /inside the cluster zone cluster.local/],
    [['--cache-size', 'many'], /--cache-size must be a non-negative integer/],
  ])('refuses bad stub domain and cache flags %j', async (flags, message) => {
    const r = await net.exec(server, [process.execPath, BIN, '--manifests', dir, ...flags], {
      allowFail: true,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
