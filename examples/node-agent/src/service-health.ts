/**
 * kube-proxy's service health checks: for every LoadBalancer Service with
 * `externalTrafficPolicy: Local`, each node answers on the Service's `healthCheckNodePort` how
 * many ready endpoints it has locally, so that a cloud load balancer sends traffic only to nodes
 * that have one. What should be served is planned here from the Services and EndpointSlices;
 * answers are rendered here too. Pure.
 */
import {
  type Delta,
  type EndpointSlice,
  type Service,
  sliceServiceKey,
} from '@podnet/cluster-state';
import { HEALTH_HEADERS, type HealthAnswer } from './proxy-health.js';

/** One health check node port the node should serve. */
export interface ServiceHealthPort {
  /** `namespace/name` of the Service. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** `spec.healthCheckNodePort`. */
  readonly port: number;
  /** Distinct addresses of ready endpoints on this node. */
  readonly localEndpoints: number;
}

/**
 * Whether a Service gets a health check node port, as kube-proxy decides it: type LoadBalancer,
 * `externalTrafficPolicy: Local` and a `healthCheckNodePort` (the API server allocates one for
 * exactly these; NodePort Services with a Local policy get none).
 */
export function needsHealthCheck(svc: Service): boolean {
  const spec = svc.spec;
  return (
    spec?.type === 'LoadBalancer' &&
    spec.externalTrafficPolicy === 'Local' &&
    Number.isInteger(spec.healthCheckNodePort) &&
    (spec.healthCheckNodePort ?? 0) > 0
  );
}

/**
 * The number of distinct addresses of ready endpoints on `nodeName` in `slices` (as kube-proxy
 * counts them: an absent `ready` condition means ready; serving but terminating endpoints do not
 * count, so a node whose only endpoints are terminating fails the check).
 */
export function countLocalReadyEndpoints(
  slices: readonly EndpointSlice[],
  nodeName: string,
): number {
  const ips = new Set<string>();
  for (const slice of slices) {
    if (slice.addressType === 'FQDN') continue;
    for (const ep of slice.endpoints ?? []) {
      if (ep.nodeName !== nodeName || ep.conditions?.ready === false) continue;
      const ip = ep.addresses?.[0];
      if (ip) ips.add(ip);
    }
  }
  return ips.size;
}

/**
 * The health check node ports `nodeName` should serve for `services`, with each one's local
 * endpoint count. `slicesOf` gives a Service's EndpointSlices by `namespace/name`.
 */
export function planServiceHealth(
  services: readonly Service[],
  slicesOf: (serviceKey: string) => readonly EndpointSlice[],
  nodeName: string,
): ServiceHealthPort[] {
  const out: ServiceHealthPort[] = [];
  for (const svc of services) {
    if (!needsHealthCheck(svc)) continue;
    const namespace = svc.metadata?.namespace || 'default';
    const name = svc.metadata?.name ?? '';
    const key = `${namespace}/${name}`;
    out.push({
      key,
      namespace,
      name,
      port: svc.spec!.healthCheckNodePort!,
      localEndpoints: countLocalReadyEndpoints(slicesOf(key), nodeName),
    });
  }
  return out;
}

/**
 * The Services (`namespace/name`) whose health check a batch of deltas may change: each changed
 * Service, and the Service of each changed EndpointSlice (both, when an update moved a slice from
 * one Service to another).
 */
export function serviceKeysOf(deltas: readonly Delta[]): Set<string> {
  const keys = new Set<string>();
  const add = (k: string | undefined) => {
    if (k) keys.add(k);
  };
  for (const d of deltas) {
    if (d.kind === 'Service') keys.add(d.key);
    else if (d.kind === 'EndpointSlice') {
      if (d.type !== 'added') add(sliceServiceKey(d.old));
      if (d.type !== 'deleted') add(sliceServiceKey(d.object));
    }
  }
  return keys;
}

/**
 * The answer on a health check node port: 200 when the node has a ready local endpoint and the
 * proxy is healthy, else 503; the JSON body names the Service and the count.
 */
export function serviceHealthAnswer(
  port: Pick<ServiceHealthPort, 'namespace' | 'name' | 'localEndpoints'>,
  proxyHealthy: boolean,
): HealthAnswer {
  const ok = port.localEndpoints > 0 && proxyHealthy;
  return {
    status: ok ? 200 : 503,
    headers: HEALTH_HEADERS,
    body: JSON.stringify(
      {
        service: { namespace: port.namespace, name: port.name },
        localEndpoints: port.localEndpoints,
        serviceProxyHealthy: proxyHealthy,
      },
      null,
      '\t',
    ),
  };
}
