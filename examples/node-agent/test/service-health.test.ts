import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { EndpointSlice, Service } from '@podnet/cluster-state';
import {
  countLocalReadyEndpoints,
  createLogger,
  needsHealthCheck,
  planServiceHealth,
  serviceHealthAnswer,
  ServiceHealthServers,
  serviceKeysOf,
} from '../src/index.js';

const svc = (name: string, spec: Service['spec']): Service => ({
  metadata: { name, namespace: 'default' },
  spec,
});
const lbLocal = (name: string, port: number) =>
  svc(name, {
    type: 'LoadBalancer',
    externalTrafficPolicy: 'Local',
    healthCheckNodePort: port,
    ports: [{ port: 80 }],
  });
const slice = (
  service: string,
  endpoints: Array<{ ip: string; node: string; ready?: boolean }>,
  addressType = 'IPv4',
): EndpointSlice => ({
  metadata: {
    name: `${service}-${addressType}`,
    namespace: 'default',
    labels: { 'kubernetes.io/service-name': service },
  },
  addressType,
  endpoints: endpoints.map((e) => ({
    addresses: [e.ip],
    nodeName: e.node,
    ...(e.ready === undefined ? {} : { conditions: { ready: e.ready, serving: true } }),
  })),
  ports: [{ port: 8080 }],
});

describe('planServiceHealth', () => {
  it.each([
    ['LoadBalancer + Local + port', lbLocal('a', 31000), true],
    [
      'LoadBalancer + Cluster',
      svc('a', { type: 'LoadBalancer', healthCheckNodePort: 31000 }),
      false,
    ],
    [
      'LoadBalancer + Local without a port',
      svc('a', { type: 'LoadBalancer', externalTrafficPolicy: 'Local' }),
      false,
    ],
    [
      'NodePort + Local (kube-proxy serves none)',
      svc('a', { type: 'NodePort', externalTrafficPolicy: 'Local', healthCheckNodePort: 31000 }),
      false,
    ],
    ['ClusterIP', svc('a', { type: 'ClusterIP' }), false],
  ])('needsHealthCheck: %s → %s', (_what, s, want) => {
    expect(needsHealthCheck(s)).toBe(want);
  });

  it('counts distinct ready local addresses (absent ready = ready; terminating ones do not count)', () => {
    const slices = [
      slice('a', [
        { ip: '10.0.1.2', node: 'n1' },
        { ip: '10.0.1.3', node: 'n1', ready: true },
        { ip: '10.0.1.4', node: 'n1', ready: false },
        { ip: '10.0.2.2', node: 'n2', ready: true },
      ]),
      // the same pod in a second slice (another port set) counts once
      {
        ...slice('a', [{ ip: '10.0.1.2', node: 'n1' }]),
        metadata: { name: 'a-2', namespace: 'default' },
      },
      slice('a', [{ ip: 'x.example', node: 'n1' }], 'FQDN'),
    ];
    expect(countLocalReadyEndpoints(slices, 'n1')).toBe(2);
    expect(countLocalReadyEndpoints(slices, 'n2')).toBe(1);
    expect(countLocalReadyEndpoints(slices, 'n3')).toBe(0);
  });

  it('plans one port per LoadBalancer/Local Service with its local count', () => {
    const slices: Record<string, EndpointSlice[]> = {
      'default/a': [
        slice('a', [
          { ip: '10.0.1.2', node: 'n1' },
          { ip: '10.0.2.2', node: 'n2' },
        ]),
      ],
      'default/b': [slice('b', [{ ip: '10.0.2.3', node: 'n2' }])],
    };
    const services = [lbLocal('a', 31001), lbLocal('b', 31002), svc('c', { type: 'ClusterIP' })];
    expect(planServiceHealth(services, (k) => slices[k] ?? [], 'n1')).toEqual([
      { key: 'default/a', namespace: 'default', name: 'a', port: 31001, localEndpoints: 1 },
      { key: 'default/b', namespace: 'default', name: 'b', port: 31002, localEndpoints: 0 },
    ]);
  });

  it('answers as kube-proxy: 200 with a local endpoint, 503 without or when the proxy is unhealthy', () => {
    const ok = serviceHealthAnswer({ namespace: 'default', name: 'a', localEndpoints: 2 }, true);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('application/json');
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    expect(ok.body).toBe(
      '{\n\t"service": {\n\t\t"namespace": "default",\n\t\t"name": "a"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}',
    );
    expect(
      serviceHealthAnswer({ namespace: 'default', name: 'a', localEndpoints: 0 }, true).status,
    ).toBe(503);
    const sick = serviceHealthAnswer({ namespace: 'default', name: 'a', localEndpoints: 2 }, false);
    expect(sick.status).toBe(503);
    expect(JSON.parse(sick.body)).toMatchObject({ localEndpoints: 2, serviceProxyHealthy: false });
  });
});

describe('serviceKeysOf', () => {
  it('names changed Services and the Services of changed slices, old and new', () => {
    const a = slice('a', []);
    const moved = {
      ...a,
      metadata: { ...a.metadata, labels: { 'kubernetes.io/service-name': 'b' } },
    };
    const unlabelled = { ...a, metadata: { name: 'x', namespace: 'default' } };
    const keys = serviceKeysOf([
      { type: 'added', kind: 'Service', key: 'default/s', object: lbLocal('s', 31000) },
      { type: 'updated', kind: 'EndpointSlice', key: 'default/a-IPv4', object: moved, old: a },
      {
        type: 'deleted',
        kind: 'EndpointSlice',
        key: 'ns/c',
        old: {
          ...slice('c', []),
          metadata: { name: 'c', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'c' } },
        },
      },
      { type: 'added', kind: 'EndpointSlice', key: 'default/x', object: unlabelled },
      { type: 'added', kind: 'Pod', key: 'default/p', object: { metadata: { name: 'p' } } },
    ]);
    expect([...keys].sort()).toEqual(['default/a', 'default/b', 'default/s', 'ns/c']);
  });
});

/** A TCP port that was free a moment ago. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('ServiceHealthServers', () => {
  let servers: ServiceHealthServers | undefined;
  afterEach(() => servers?.close());
  const log = createLogger({ level: 'error' });

  it('opens, updates and closes listeners from plans, in full or for a scope', async () => {
    servers = new ServiceHealthServers({ address: '127.0.0.1', proxyHealthy: () => true, log });
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    const entry = (name: string, port: number, localEndpoints: number) => ({
      key: `default/${name}`,
      namespace: 'default',
      name,
      port,
      localEndpoints,
    });
    const get = async (port: number) => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/`);
        return { status: r.status, body: JSON.parse(await r.text()) };
      } catch {
        return 'refused';
      }
    };
    expect(await servers.apply([entry('a', p1, 1), entry('b', p2, 0)])).toEqual([]);
    expect(await get(p1)).toMatchObject({ status: 200, body: { localEndpoints: 1 } });
    expect(await get(p2)).toMatchObject({ status: 503, body: { service: { name: 'b' } } });
    // an incremental apply touches only its scope: b's count changes, a stays
    await servers.apply([entry('b', p2, 3)], new Set(['default/b']));
    expect(await get(p2)).toMatchObject({ status: 200, body: { localEndpoints: 3 } });
    expect(await get(p1)).toMatchObject({ status: 200 });
    // a Service in scope and not planned is closed; a moved port reopens
    await servers.apply([entry('a', p3, 1)], new Set(['default/a', 'default/b']));
    expect(await get(p2)).toBe('refused');
    expect(await get(p1)).toBe('refused');
    expect(await get(p3)).toMatchObject({ status: 200 });
    // a full apply closes what is not planned
    await servers.apply([]);
    expect(servers.served()).toEqual([]);
    expect(await get(p3)).toBe('refused');
  });

  it('reports a taken port and opens it at a later apply', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    servers = new ServiceHealthServers({ address: '127.0.0.1', proxyHealthy: () => false, log });
    const e = { key: 'default/a', namespace: 'default', name: 'a', port, localEndpoints: 1 };
    const problems = await servers.apply([e]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`health check node port ${port} of Service default/a`);
    await new Promise<void>((r) => blocker.close(() => r()));
    expect(await servers.apply([e])).toEqual([]);
    const r = await fetch(`http://127.0.0.1:${port}/`);
    // an unhealthy proxy fails the check even with local endpoints
    expect(r.status).toBe(503);
    expect(JSON.parse(await r.text())).toMatchObject({ serviceProxyHealthy: false });
  });
});
