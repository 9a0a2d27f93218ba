/**
 * The API server's `spec.healthCheckNodePort` allocation: a LoadBalancer Service with
 * `externalTrafficPolicy: Local` gets one port of the NodePort range, on which every node's
 * agent answers how many ready endpoints of the Service it has (kube-proxy's service health
 * check, what a cloud load balancer probes). Runs after the NodePorts are allocated, so that it
 * shares their range without colliding. Pure.
 */
import type { Service } from '@podnet/cluster-state';
import { keyOf, type ObjectProblem } from './cluster-objects.js';
import type { ClusterPlan } from './plan.js';
import { allocateNodePort } from './service-allocator.js';

/** Whether a Service gets a health check node port: type LoadBalancer with a Local policy. */
export function wantsHealthCheckNodePort(svc: Service): boolean {
  return svc.spec?.type === 'LoadBalancer' && svc.spec.externalTrafficPolicy === 'Local';
}

/**
 * Gives each of `incoming` (Services whose NodePorts are allocated already) its
 * `spec.healthCheckNodePort` as the API server does: a requested one is checked (in the NodePort
 * range, no other Service's NodePort or health check port, none of its own NodePorts); otherwise
 * a Service applied again keeps what it had; otherwise the next free port. A Service that gets
 * none (another type, or `externalTrafficPolicy: Cluster`) must not ask for one. `current` are
 * the Services the cluster has; problems index into `incoming`.
 */
export function allocateHealthCheckNodePorts(
  plan: ClusterPlan,
  current: readonly Service[],
  incoming: readonly Service[],
): { services: Service[]; problems: ObjectProblem[] } {
  const replaced = new Set(incoming.map(keyOf));
  const owners = new Map<number, string>();
  const claim = (s: Service, withHealthCheck: boolean) => {
    for (const p of s.spec?.ports ?? []) if (p.nodePort) owners.set(p.nodePort, keyOf(s));
    const hc = s.spec?.healthCheckNodePort;
    if (withHealthCheck && hc) owners.set(hc, keyOf(s));
  };
  for (const s of current) if (!replaced.has(keyOf(s))) claim(s, true);
  for (const s of incoming) claim(s, false);
  const problems: ObjectProblem[] = [];
  const [lo, hi] = plan.nodePortRange;
  const services = incoming.map((svc, index): Service => {
    const path = 'spec.healthCheckNodePort';
    const bad = (message: string) => problems.push({ index, path, message });
    const asked = svc.spec?.healthCheckNodePort;
    if (!wantsHealthCheckNodePort(svc)) {
      if (asked !== undefined)
        bad(
          `may only be set for type LoadBalancer with externalTrafficPolicy Local (got type ${svc.spec?.type ?? 'ClusterIP'}, externalTrafficPolicy ${svc.spec?.externalTrafficPolicy ?? 'Cluster'})`,
        );
      return svc;
    }
    const key = keyOf(svc);
    let port: number | undefined;
    if (asked !== undefined) {
      const owner = owners.get(asked);
      if (asked < lo || asked > hi) bad(`${asked} is outside the NodePort range ${lo}-${hi}`);
      else if (owner === key) bad(`${asked} is a NodePort of this Service`);
      else if (owner) bad(`${asked} is already allocated to Service ${owner}`);
      port = asked;
    } else {
      const kept = current.find((s) => keyOf(s) === key)?.spec?.healthCheckNodePort;
      if (kept && kept >= lo && kept <= hi && !owners.has(kept)) port = kept;
      else {
        try {
          port = allocateNodePort(plan, [...owners.keys()]);
        } catch (e) {
          bad((e as Error).message);
        }
      }
    }
    if (port === undefined) return svc;
    owners.set(port, key);
    return { ...svc, spec: { ...svc.spec, healthCheckNodePort: port } };
  });
  return { services, problems };
}
