/**
 * The endpoint slice controller: one EndpointSlice per Service with a selector and IP family of
 * the Service (`addressType` IPv4 or IPv6, as upstream's controller writes them), made of the
 * running pods it selects. Pure.
 */
import {
  type EndpointSlice,
  type Pod,
  SERVICE_NAME_LABEL,
  type Service,
  type StringMap,
} from '@podnet/cluster-state';
import { nameOf, namespaceOf, nodeNameOf, podPorts } from './cluster-objects.js';
import { type IpFamily, ofFamily, podIpsOf } from './ip-family.js';
import { withTopology } from './topology.js';

/** Who manages the slices (`endpointslice.kubernetes.io/managed-by`). */
export const SLICE_MANAGER = 'podnet-cluster';

/** True when every selector label matches (an empty selector selects nothing, as for Services). */
export function selects(selector: StringMap, podLabels: StringMap): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => podLabels[k] === selector[k]);
}

/** The Service's families (`spec.ipFamilies`, IPv4 when it has none). */
function familiesOf(svc: Service): IpFamily[] {
  const list = (svc.spec?.ipFamilies ?? []).filter(
    (f): f is IpFamily => f === 'IPv4' || f === 'IPv6',
  );
  return list.length > 0 ? list : ['IPv4'];
}

/**
 * The EndpointSlice of a Service for one IP family (default: its primary one): the pods of its
 * namespace that have an address of that family and match its selector, ready; its ports with
 * named target ports resolved against those pods' container ports (a port no pod names is left
 * out). The IPv4 slice is `<service>-podnet`, the IPv6 one `<service>-podnet-ipv6`.
 */
export function planEndpointSlice(
  svc: Service,
  pods: readonly Pod[],
  family: IpFamily = familiesOf(svc)[0]!,
): EndpointSlice {
  const namespace = namespaceOf(svc);
  const name = nameOf(svc);
  const selector = svc.spec?.selector ?? {};
  const ipOf = (p: Pod) => ofFamily(podIpsOf(p), family);
  const matching = pods.filter(
    (p) => namespaceOf(p) === namespace && ipOf(p) && selects(selector, p.metadata?.labels ?? {}),
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
      name: family === 'IPv4' ? `${name}-podnet` : `${name}-podnet-ipv6`,
      namespace,
      labels: {
        [SERVICE_NAME_LABEL]: name,
        'endpointslice.kubernetes.io/managed-by': SLICE_MANAGER,
      },
    },
    addressType: family,
    endpoints: matching.map((p) => ({
      addresses: [ipOf(p)!],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: nodeNameOf(p),
      targetRef: { kind: 'Pod', namespace, name: nameOf(p) },
    })),
    ports,
  };
}

/**
 * The slices of every Service with a selector (a selectorless Service has none, as upstream),
 * one per family of the Service. With `zoneOf` (node name → zone), each endpoint carries its
 * node's zone and the Services' `trafficDistribution` hints ({@link withTopology}).
 */
export function planEndpointSlices(
  services: readonly Service[],
  pods: readonly Pod[],
  zoneOf?: (node: string) => string | undefined,
): EndpointSlice[] {
  return services
    .filter((s) => Object.keys(s.spec?.selector ?? {}).length > 0)
    .flatMap((s) =>
      familiesOf(s).map((f) => {
        const slice = planEndpointSlice(s, pods, f);
        return zoneOf ? withTopology(slice, s, zoneOf) : slice;
      }),
    );
}
