import { type ClusterStore, type Delta, lastDeltas } from '@podnet/cluster-state';
import fc from 'fast-check';
import type {
  DnsObjectChanges,
  K8sEndpointSlice,
  K8sNamespace,
  K8sPod,
  K8sService,
} from '../src/index.js';

// Small pools, so that random objects collide where the zone is subtle: two Services sharing an
// IP (one PTR name, two owners), a Pod's hostname record on a headless Service's endpoint name,
// selectors matching Pods, EndpointSlices moving between Services, and a few malformed fields.
export const NAMESPACES = ['a', 'b', 'default'] as const;
const NS = fc.constantFrom<string | undefined>('a', 'b', 'default', undefined, 'a', 'b');
const BAD_NS = fc.constantFrom<string | undefined>('a', 'b', 'Bad');
export const SERVICE_NAMES = ['s1', 's2', 'db', 'web'] as const;
const SVC_NAME = fc.constantFrom<string>('s1', 's2', 'db', 'web', 's1', 'db', 'Bad_Name');
const V4 = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.1'];
const V6 = ['fd00::1', 'fd00::2'];
const IP = fc.constantFrom(...V4, ...V6, ...V4);
const MAYBE_BAD_IP = fc.oneof(
  { weight: 12, arbitrary: IP },
  { weight: 1, arbitrary: fc.constantFrom('10.0.0.300', 'x') },
);
const HOST = fc.constantFrom<string | undefined>(
  undefined,
  undefined,
  'h1',
  'h2',
  'db-0',
  'Bad_Host',
);
const LABELS = fc.constantFrom<Record<string, string> | undefined>(
  undefined,
  { app: 'x' },
  { app: 'y' },
  { app: 'x', tier: 'z' },
);
const SERVICE_PORTS = [
  { name: 'http', port: 80 },
  { name: 'dns', port: 53, protocol: 'UDP' },
  { port: 81 },
  { name: 'web', port: 8080, targetPort: 9090 },
  { name: 'Bad_Port', port: 1 },
  { name: 'big', port: 70000 },
];
const SLICE_PORTS = [
  { name: 'http', port: 8080 },
  { name: 'dns', port: 5353, protocol: 'UDP' },
  { name: 'web', port: 9090 },
  { name: 'nope', port: 0 },
];

/** A Namespace (now and then with a name that is not a label). */
export const namespaceArb: fc.Arbitrary<K8sNamespace> = fc
  .constantFrom('a', 'b', 'default', 'c', 'Bad')
  .map((name) => ({ metadata: { name } }));

/** A ClusterIP, headless or ExternalName Service. */
export const serviceArb: fc.Arbitrary<K8sService> = fc
  .record({
    name: SVC_NAME,
    namespace: NS,
    kind: fc.constantFrom('clusterIP', 'dual', 'none', 'headless', 'headless', 'external'),
    ip: MAYBE_BAD_IP,
    ip6: fc.constantFrom(...V6),
    selector: LABELS,
    publish: fc.boolean(),
    ports: fc.subarray(SERVICE_PORTS, { maxLength: 3 }),
    external: fc.constantFrom('example.com', 'Foo.Example.', 'bad name!'),
  })
  .map((r) => {
    const metadata = { name: r.name, namespace: r.namespace };
    const ports = r.ports.map((p) => ({ ...p }));
    switch (r.kind) {
      case 'external':
        return { metadata, spec: { type: 'ExternalName', externalName: r.external } };
      case 'headless':
        return {
          metadata,
          spec: {
            clusterIP: 'None',
            selector: r.selector,
            publishNotReadyAddresses: r.publish,
            ports,
          },
        };
      case 'dual':
        return { metadata, spec: { clusterIP: r.ip, clusterIPs: [r.ip, r.ip6], ports } };
      case 'none':
        return { metadata, spec: { selector: r.selector, ports } };
      default:
        return { metadata, spec: { clusterIP: r.ip, ports } };
    }
  });

/** An EndpointSlice of one of the Services (or of none). */
export const sliceArb: fc.Arbitrary<K8sEndpointSlice> = fc
  .record({
    name: fc.constantFrom('e1', 'e2', 'e3'),
    namespace: BAD_NS,
    service: fc.constantFrom<string | undefined>('s1', 's2', 'db', 'web', 'db', undefined, 'B_'),
    addressType: fc.constantFrom('IPv4', 'IPv4', 'IPv6', 'FQDN'),
    ports: fc.subarray(SLICE_PORTS, { maxLength: 2 }),
    endpoints: fc.array(
      fc.record({
        addresses: fc.array(MAYBE_BAD_IP, { minLength: 1, maxLength: 2 }),
        hostname: HOST,
        ready: fc.constantFrom<boolean | undefined>(true, false, undefined),
      }),
      { maxLength: 4 },
    ),
  })
  .map((r) => ({
    metadata: {
      name: r.name,
      namespace: r.namespace,
      labels: (r.service === undefined
        ? {}
        : { 'kubernetes.io/service-name': r.service }) as Record<string, string>,
    },
    addressType: r.addressType,
    ports: r.ports.map((p) => ({ ...p })),
    endpoints: r.endpoints.map((e) => ({
      addresses: e.addresses,
      hostname: e.hostname,
      conditions: e.ready === undefined ? {} : { ready: e.ready },
    })),
  }));

/** A Pod, maybe with a hostname and subdomain, ready or not. */
export const podArb: fc.Arbitrary<K8sPod> = fc
  .record({
    name: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
    namespace: BAD_NS,
    labels: LABELS,
    hostname: HOST,
    subdomain: fc.constantFrom<string | undefined>(undefined, 's1', 'db', 'web'),
    ips: fc.array(MAYBE_BAD_IP, { maxLength: 2 }),
    ready: fc.constantFrom('True', 'False', 'none', 'pending'),
  })
  .map((r) => ({
    metadata: { name: r.name, namespace: r.namespace, labels: r.labels },
    spec: { containers: [], hostname: r.hostname, subdomain: r.subdomain },
    status: {
      podIP: r.ips[0],
      podIPs: r.ips.map((ip) => ({ ip })),
      ...(r.ready === 'none'
        ? { phase: 'Running' }
        : r.ready === 'pending'
          ? { phase: 'Pending' }
          : { conditions: [{ type: 'Ready', status: r.ready }] }),
    },
  }));

/** The kinds the zone reads. */
export type ZoneKind = 'Namespace' | 'Service' | 'EndpointSlice' | 'Pod';

/** One change to the cluster: an object added or replaced, or one deleted by key. */
export type ClusterChange =
  | { op: 'upsert'; kind: 'Namespace'; object: K8sNamespace }
  | { op: 'upsert'; kind: 'Service'; object: K8sService }
  | { op: 'upsert'; kind: 'EndpointSlice'; object: K8sEndpointSlice }
  | { op: 'upsert'; kind: 'Pod'; object: K8sPod }
  | { op: 'delete'; kind: ZoneKind; pick: number };

/** A random change; a delete picks one of the existing objects of its kind by `pick`. */
export const changeArb: fc.Arbitrary<ClusterChange> = fc.oneof(
  {
    weight: 1,
    arbitrary: namespaceArb.map((object) => ({ op: 'upsert', kind: 'Namespace', object }) as const),
  },
  {
    weight: 4,
    arbitrary: serviceArb.map((object) => ({ op: 'upsert', kind: 'Service', object }) as const),
  },
  {
    weight: 4,
    arbitrary: sliceArb.map((object) => ({ op: 'upsert', kind: 'EndpointSlice', object }) as const),
  },
  {
    weight: 4,
    arbitrary: podArb.map((object) => ({ op: 'upsert', kind: 'Pod', object }) as const),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('delete' as const),
      kind: fc.constantFrom<ZoneKind>('Namespace', 'Service', 'EndpointSlice', 'Pod'),
      pick: fc.nat(),
    }),
  },
);

/** Applies one random change to the store; returns its deltas. */
export function applyChange(store: ClusterStore, change: ClusterChange): readonly Delta[] {
  return store.transaction((tx) => {
    if (change.op === 'upsert') {
      tx.upsert(change.kind, change.object as never);
      return;
    }
    const all = store.list(change.kind);
    if (all.length === 0) return;
    const victim = all[change.pick % all.length];
    const meta = (victim as { metadata?: { name?: string; namespace?: string } }).metadata;
    const key =
      change.kind === 'Namespace'
        ? `${meta?.name ?? ''}`
        : `${meta?.namespace || 'default'}/${meta?.name ?? ''}`;
    tx.delete(change.kind, key);
  }).deltas;
}

/** The keys of a batch's deltas, by kind, as `update(source, changed)` takes them. */
export function changedKeys(deltas: readonly Delta[]): DnsObjectChanges {
  const out = {
    namespaces: [] as string[],
    services: [] as string[],
    endpointSlices: [] as string[],
    pods: [] as string[],
  };
  for (const d of lastDeltas(deltas)) {
    if (d.kind === 'Namespace') out.namespaces.push(d.key);
    else if (d.kind === 'Service') out.services.push(d.key);
    else if (d.kind === 'EndpointSlice') out.endpointSlices.push(d.key);
    else if (d.kind === 'Pod') out.pods.push(d.key);
  }
  return out;
}
