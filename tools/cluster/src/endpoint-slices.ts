/**
 * The endpoint slice controller: one IPv4 EndpointSlice per Service with a selector, made of
 * the running pods it selects. Pure.
 */
import {
  type EndpointSlice,
  type Pod,
  SERVICE_NAME_LABEL,
  type Service,
  type StringMap,
} from '@podnet/cluster-state';
import { nameOf, namespaceOf, nodeNameOf, podIpOf, podPorts } from './cluster-objects.js';

/** Who manages the slices (`endpointslice.kubernetes.io/managed-by`). */
export const SLICE_MANAGER = 'podnet-cluster';

/** True when every selector label matches (an empty selector selects nothing, as for Services). */
export function selects(selector: StringMap, podLabels: StringMap): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => podLabels[k] === selector[k]);
}

/**
 * The EndpointSlice of a Service: the pods of its namespace that have an address and match its
 * selector, ready; its ports with named target ports resolved against those pods' container
 * ports (a port no pod names is left out).
 */
export function planEndpointSlice(svc: Service, pods: readonly Pod[]): EndpointSlice {
  const namespace = namespaceOf(svc);
  const name = nameOf(svc);
  const selector = svc.spec?.selector ?? {};
  const matching = pods.filter(
    (p) =>
      namespaceOf(p) === namespace && podIpOf(p) && selects(selector, p.metadata?.labels ?? {}),
  );
  const ports = (svc.spec?.ports ?? []).flatMap((sp) => {
    const protocol = sp.protocol ?? 'TCP';
    const target = sp.targetPort ?? sp.port;
    const port =
      typeof target === 'number'
        ? target
        : matching.flatMap(podPorts).find((pp) => pp.name === target && pp.protocol === protocol)
            ?.containerPort;
    return port ? [{ name: sp.name ?? '', port, protocol }] : [];
  });
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${name}-podnet`,
      namespace,
      labels: {
        [SERVICE_NAME_LABEL]: name,
        'endpointslice.kubernetes.io/managed-by': SLICE_MANAGER,
      },
    },
    addressType: 'IPv4',
    endpoints: matching.map((p) => ({
      addresses: [podIpOf(p)!],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: nodeNameOf(p),
      targetRef: { kind: 'Pod', namespace, name: nameOf(p) },
    })),
    ports,
  };
}

/** The slices of every Service with a selector (a selectorless Service has none, as upstream). */
export function planEndpointSlices(
  services: readonly Service[],
  pods: readonly Pod[],
): EndpointSlice[] {
  return services
    .filter((s) => Object.keys(s.spec?.selector ?? {}).length > 0)
    .map((s) => planEndpointSlice(s, pods));
}
