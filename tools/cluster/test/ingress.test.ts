import type { Pod, Service } from '@podnet/cluster-state';
import { describe, expect, it } from 'vitest';
import {
  checkIngressConfig,
  containerProcesses,
  ingressControllerManifests,
  manifestObjects,
  renderHaproxyConfig,
  serverPorts,
} from '../src/index.js';

const svc = (name: string, namespace = 'default', ports = [80]): Service => ({
  metadata: { name, namespace },
  spec: { ports: ports.map((port) => ({ port })) },
});
const services = [svc('web-a'), svc('web-b'), svc('api', 'shop', [8080])];

describe('renderHaproxyConfig', () => {
  const text = renderHaproxyConfig(
    {
      routes: [
        { host: 'a.example', service: 'web-a', port: 80 },
        { host: 'a.example', path: '/api/', service: 'shop/api', port: 8080 },
        { host: 'b.example', service: 'web-b', port: 80 },
      ],
      listenPort: 8000,
    },
    services,
  );
  const frontend = text.slice(text.indexOf('frontend ingress'), text.indexOf('\nbackend route_0'));

  it('matches the Host header without its port, and a path prefix per path element', () => {
    expect(frontend).toContain('bind :8000');
    expect(frontend).toContain('req.hdr(host),field(1,:),lower');
    expect(frontend).toContain('acl path_1 path -m str /api\n');
    expect(frontend).toContain('acl path_1 path -m beg /api/\n');
    expect(frontend).toContain('use_backend route_1 if host_1 path_1');
    expect(frontend).toContain('use_backend route_0 if host_0\n');
    expect(frontend).toContain('default_backend no_route');
  });

  it('tries longer paths first, then the order given', () => {
    const order = [...frontend.matchAll(/use_backend (route_\d)/g)].map((m) => m[1]);
    expect(order).toEqual(['route_1', 'route_0', 'route_2']);
  });

  it('sends each route to its Service by cluster DNS name, resolved at run time', () => {
    expect(text).toContain('resolvers cluster\n  parse-resolv-conf');
    expect(text).toContain(
      'server api api.shop.svc.cluster.local:8080 resolvers cluster init-addr none',
    );
    expect(text).toContain('server web-b web-b.default.svc.cluster.local:80 resolvers cluster');
    expect(
      renderHaproxyConfig(
        { routes: [{ host: 'x.y', service: 'web-a', port: 80 }] },
        services,
        'k8s.test',
      ),
    ).toContain('web-a.default.svc.k8s.test:80');
  });

  it('names every bad field', () => {
    expect(() =>
      checkIngressConfig(
        {
          routes: [
            { host: 'A_B', service: 'web-a', port: 80 },
            { host: 'ok.example', path: 'api', service: 'nope', port: 80 },
            { host: 'ok.example', service: 'shop/api', port: 80 },
          ],
          listenPort: 0,
        },
        services,
      ),
    ).toThrow(
      [
        'ingress configuration:',
        '  listenPort: want 1-65535, got 0',
        '  routes[0].host: want a lower-case DNS name, got "A_B"',
        '  routes[1].path: want a path starting with /, got "api"',
        '  routes[1].service: no Service default/nope',
        '  routes[2].port: Service shop/api has no port 80 (ports: 8080)',
      ].join('\n'),
    );
    expect(() => checkIngressConfig({ routes: [] }, services)).toThrow(/routes: want at least one/);
  });
});

describe('the ingress controller pod', () => {
  const [podValue, svcValue] = ingressControllerManifests({
    configFile: '/run/x/haproxy.cfg',
    namespace: 'shop',
    node: 'node2',
  });

  it('is a Pod running haproxy on its config file, and a LoadBalancer Service, that apply accepts', () => {
    const objects = manifestObjects([podValue, svcValue]);
    expect(objects.map((o) => `${o.kind} ${o.key}`)).toEqual([
      'Pod shop/ingress',
      'Service shop/ingress',
    ]);
    const pod = objects[0]!.object as Pod;
    expect(containerProcesses(pod)).toEqual([
      { container: 'haproxy', argv: ['haproxy', '-db', '-f', '/run/x/haproxy.cfg'] },
    ]);
    // haproxy serves its port, not the built-in server
    expect(serverPorts(pod)).toEqual([]);
    expect((objects[1]!.object as Service).spec?.type).toBe('LoadBalancer');
  });

  it('serves the ports of containers without a command with the built-in server', () => {
    const pod: Pod = {
      metadata: { name: 'p' },
      spec: {
        containers: [
          { name: 'a', command: ['sleep', 'infinity'], ports: [{ containerPort: 1 }] },
          { name: 'b', ports: [{ containerPort: 2, protocol: 'UDP' }] },
        ],
      },
    };
    expect(containerProcesses(pod)).toEqual([{ container: 'a', argv: ['sleep', 'infinity'] }]);
    expect(serverPorts(pod)).toEqual([{ containerPort: 2, protocol: 'UDP' }]);
  });

  it('refuses args without a command (no image to take an entrypoint from)', () => {
    expect(() =>
      manifestObjects([
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p' },
          spec: { containers: [{ name: 'c', args: ['-x'] }] },
        },
      ]),
    ).toThrow(/spec\.containers\[0\]\.args: the namespace cluster has no images.*give command too/);
  });
});
