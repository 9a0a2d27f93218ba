import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import { nodeEligible, ProxyHealth, serveProxyHealth, TO_BE_DELETED_TAINT } from '../src/index.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const node = (extra: object = {}) => ({ metadata: { name: 'n1' }, ...extra });

describe('ProxyHealth', () => {
  it('is healthy at start and while a queued change is younger than the timeout', () => {
    const h = new ProxyHealth(1000);
    expect(h.healthy(T0)).toBe(true);
    h.queued(T0);
    h.queued(T0 + 500); // the oldest pending change counts
    expect(h.healthy(T0 + 999)).toBe(true);
    expect(h.healthy(T0 + 1000)).toBe(false);
    h.updated(T0 + 1200);
    expect(h.healthy(T0 + 5000)).toBe(true);
  });

  it('answers /healthz and /livez as kube-proxy: JSON, 503 when a change waits too long', () => {
    const h = new ProxyHealth(1000);
    h.updated(T0);
    const ok = h.healthz(T0 + 10);
    expect(ok.status).toBe(200);
    expect(ok.headers).toEqual({
      'content-type': 'application/json',
      'x-content-type-options': 'nosniff',
    });
    expect(JSON.parse(ok.body)).toEqual({
      lastUpdated: '2026-01-01T00:00:00.010Z',
      currentTime: '2026-01-01T00:00:00.010Z',
      nodeEligible: true,
    });
    h.queued(T0 + 100);
    const bad = h.healthz(T0 + 1100);
    expect(bad.status).toBe(503);
    expect(JSON.parse(bad.body)).toEqual({
      lastUpdated: '2026-01-01T00:00:00.000Z',
      currentTime: '2026-01-01T00:00:01.100Z',
      nodeEligible: true,
    });
    expect(h.livez(T0 + 1100).status).toBe(503);
    expect(JSON.parse(h.livez(T0 + 1100).body)).toEqual({
      lastUpdated: '2026-01-01T00:00:00.000Z',
      currentTime: '2026-01-01T00:00:01.100Z',
    });
  });

  it('fails /healthz but not /livez while the node is going away', () => {
    const h = new ProxyHealth(1000);
    h.syncNode(node({ spec: { taints: [{ key: TO_BE_DELETED_TAINT, effect: 'NoSchedule' }] } }));
    expect(h.nodeEligible).toBe(false);
    expect(h.healthz(T0).status).toBe(503);
    expect(JSON.parse(h.healthz(T0).body).nodeEligible).toBe(false);
    expect(h.livez(T0).status).toBe(200);
    h.syncNode(node());
    expect(h.healthz(T0).status).toBe(200);
  });

  it.each([
    ['a plain Node', node(), true],
    [
      'a Node with another taint',
      node({ spec: { taints: [{ key: 'x', effect: 'NoSchedule' }] } }),
      true,
    ],
    [
      'a deleting Node',
      { metadata: { name: 'n1', deletionTimestamp: '2026-01-01T00:00:00Z' } },
      false,
    ],
    [
      'a Node tainted for deletion',
      node({ spec: { taints: [{ key: TO_BE_DELETED_TAINT, effect: 'NoSchedule' }] } }),
      false,
    ],
    ['a deleted Node', undefined, false],
  ])('nodeEligible: %s → %s', (_what, n, want) => {
    expect(nodeEligible(n)).toBe(want);
  });
});

describe('serveProxyHealth', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('serves /healthz and /livez over HTTP, 404 elsewhere', async () => {
    const h = new ProxyHealth(1000);
    let now = T0;
    server = await serveProxyHealth('127.0.0.1', 0, h, () => now);
    const port = (server.address() as { port: number }).port;
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
    };
    expect(await get('/healthz')).toMatchObject({ status: 200, type: 'application/json' });
    expect(JSON.parse((await get('/livez')).body).currentTime).toBe('2026-01-01T00:00:00.000Z');
    h.queued(now);
    now += 1000;
    expect((await get('/healthz')).status).toBe(503);
    expect((await get('/livez')).status).toBe(503);
    expect((await get('/metrics')).status).toBe(404);
  });
});
