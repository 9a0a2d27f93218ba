import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { RESOURCE_PATHS } from '@podnet/cluster-state';
import { ApiFixture } from '@podnet/cluster-state/testing';
import { waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../../dist/bin/podnet-dns.js');
const run = promisify(execFile);

// podnet-dns run as CoreDNS is: against an API server (the list/watch fixture, over HTTP on
// loopback), through @kubernetes/client-node, answering dig.
describe('podnet-dns --kubeconfig', () => {
  const fx = new ApiFixture();
  let child: ChildProcess;
  let dir: string;
  let port = 0;
  const out: string[] = [];
  const dig = async (name: string) =>
    (
      await run('dig', ['+short', '+time=2', '+tries=2', '-p', String(port), '@127.0.0.1', name])
    ).stdout.trim();

  beforeAll(async () => {
    fx.upsert(RESOURCE_PATHS.Namespace, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'shop' },
    });
    fx.upsert(RESOURCE_PATHS.Service, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { clusterIP: '10.96.7.7', ports: [{ name: 'http', port: 80 }] },
    });
    const url = await fx.start();
    dir = mkdtempSync(join(tmpdir(), 'podnet-dns-kc-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, ApiFixture.kubeconfig(url));
    child = spawn(
      process.execPath,
      [BIN, '--kubeconfig', kubeconfig, '--port', '0', '--upstream', '127.0.0.1:9'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.on('data', (d: Buffer) => out.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => out.push(d.toString()));
    const listening = await waitFor(
      () =>
        out
          .join('')
          .split('\n')
          .find((l) => l.includes('"event":"listening"')),
      { timeoutMs: 30_000, what: `podnet-dns to listen (${out.join('')})` },
    );
    port = JSON.parse(listening).port;
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await fx.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers what the API server holds, and follows its watch events', async () => {
    await waitFor(async () => (await dig('web.shop.svc.cluster.local')) === '10.96.7.7', {
      timeoutMs: 20_000,
      what: 'web.shop to resolve',
    });
    fx.upsert(RESOURCE_PATHS.Service, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'api', namespace: 'shop' },
      spec: { clusterIP: '10.96.7.8' },
    });
    await waitFor(async () => (await dig('api.shop.svc.cluster.local')) === '10.96.7.8', {
      timeoutMs: 20_000,
      what: 'a watched Service to resolve',
    });
    fx.remove(RESOURCE_PATHS.Service, 'web', 'shop');
    await waitFor(async () => (await dig('web.shop.svc.cluster.local')) === '', {
      timeoutMs: 20_000,
      what: 'a deleted Service to stop resolving',
    });
    // it lists only the kinds DNS reads
    expect(fx.requests.some((r) => r.includes('networkpolicies'))).toBe(false);
  });
});
