import type { EndpointSlice, Service } from '../types.js';

/** A short description of one endpoint for {@link makeEndpointSlice}. */
export interface FixtureEndpoint {
  ip: string;
  nodeName?: string;
  zone?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  forZones?: string[];
  forNodes?: string[];
}

/**
 * Builds a `v1.Service` object. `ports` entries are `{ name, port, protocol?, nodePort? }`;
 * everything in `spec` overrides the defaults (ClusterIP type).
 */
export function makeService(
  namespace: string,
  name: string,
  spec: NonNullable<Service['spec']>,
  status?: Service['status'],
): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace, name },
    spec: { type: 'ClusterIP', ...spec },
    ...(status ? { status } : {}),
  };
}

/** Builds a `discovery.k8s.io/v1` EndpointSlice for the Service `namespace/service`. */
export function makeEndpointSlice(
  namespace: string,
  service: string,
  endpoints: readonly FixtureEndpoint[],
  ports: ReadonlyArray<{ name?: string; port: number; protocol?: string }>,
  options: { name?: string; addressType?: 'IPv4' | 'IPv6'; triggerTime?: Date } = {},
): EndpointSlice {
  const addressType = options.addressType ?? (endpoints[0]?.ip.includes(':') ? 'IPv6' : 'IPv4');
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace,
      name: options.name ?? `${service}-${addressType.toLowerCase()}`,
      labels: { 'kubernetes.io/service-name': service },
      ...(options.triggerTime
        ? {
            annotations: {
              'endpoints.kubernetes.io/last-change-trigger-time': options.triggerTime.toISOString(),
            },
          }
        : {}),
    },
    addressType,
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ready: e.ready ?? true,
        serving: e.serving ?? e.ready ?? true,
        terminating: e.terminating ?? false,
      },
      ...(e.nodeName ? { nodeName: e.nodeName } : {}),
      ...(e.zone ? { zone: e.zone } : {}),
      ...(e.forZones || e.forNodes
        ? {
            hints: {
              ...(e.forZones ? { forZones: e.forZones.map((name) => ({ name })) } : {}),
              ...(e.forNodes ? { forNodes: e.forNodes.map((name) => ({ name })) } : {}),
            },
          }
        : {}),
    })),
  };
}

/**
 * A synthetic cluster of `services` ClusterIP Services with `endpoints` endpoints each (TCP port 80
 * → 8080), addresses from 10.96.0.0/12 and 10.128.0.0/9. For benchmarks and scale tests.
 */
export function syntheticCluster(
  services: number,
  endpoints: number,
): { services: Service[]; endpointSlices: EndpointSlice[] } {
  const out = { services: [] as Service[], endpointSlices: [] as EndpointSlice[] };
  for (let i = 0; i < services; i++) {
    const cip = `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    const name = `svc-${i}`;
    out.services.push(
      makeService('bench', name, {
        clusterIP: cip,
        ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      }),
    );
    const eps: FixtureEndpoint[] = [];
    for (let j = 0; j < endpoints; j++) {
      const n = i * endpoints + j;
      eps.push({ ip: `10.${128 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`, nodeName: 'node-a' });
    }
    out.endpointSlices.push(makeEndpointSlice('bench', name, eps, [{ name: 'http', port: 8080 }]));
  }
  return out;
}
