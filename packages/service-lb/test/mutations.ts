import type { EndpointSlice, Service, ServiceChanges, ServiceState } from '../src/index.js';
import { makeEndpointSlice, makeService } from '../src/testing/index.js';

/** A small deterministic PRNG (mulberry32), so a failing sequence can be replayed. */
export function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const POOL = ['10.244.0.5', '10.244.0.6', '10.244.1.5', '10.244.1.6', '10.244.2.5', '10.244.2.6'];

function service(i: number, variant: number): Service {
  const spec: NonNullable<Service['spec']> = {
    clusterIP: `10.96.0.${10 + i}`,
    ports: [
      { name: 'http', port: 80 + (variant % 2), protocol: variant % 5 === 4 ? 'UDP' : 'TCP' },
    ],
  };
  if (variant % 3 === 1) {
    spec.type = 'NodePort';
    spec.ports![0]!.nodePort = 30000 + i;
  }
  if (variant % 4 === 2) spec.sessionAffinity = 'ClientIP';
  if (variant % 7 === 3) spec.internalTrafficPolicy = 'Local';
  return makeService('default', `svc-${i}`, spec);
}

function slice(i: number, ips: string[], target = i): EndpointSlice {
  const s = makeEndpointSlice(
    'default',
    `svc-${target}`,
    ips.map((ip, k) => ({ ip, nodeName: k % 2 === 0 ? 'node-a' : 'node-b' })),
    [{ name: 'http', port: 8080 }],
    { name: `slice-${i}` },
  );
  return s;
}

/**
 * A sequence of cluster states: Services and EndpointSlices replaced in place (new objects),
 * endpoints shared between Services, a slice moved to another Service, a Service made invalid and
 * valid again, and Services added and removed (which changes the array lengths). `valid` lists
 * the Services of each state that compile.
 */
export function* mutations(seed: number, steps: number, size = 8) {
  const rnd = prng(seed);
  const ips = () => POOL.filter(() => rnd(2) === 0).slice(0, 1 + rnd(4));
  let services = Array.from({ length: size }, (_, i) => service(i, 0));
  let slices = Array.from({ length: size }, (_, i) => slice(i, ips()));
  const invalid = new Set<Service>();
  const state = (): { state: ServiceState; valid: ServiceState; what: string } => ({
    state: { services, endpointSlices: slices },
    valid: { services: services.filter((s) => !invalid.has(s)), endpointSlices: slices },
    what: '',
  });
  yield { ...state(), what: 'initial' };
  for (let step = 0; step < steps; step++) {
    services = [...services];
    slices = [...slices];
    const kind = rnd(8);
    const i = rnd(services.length);
    let what: string;
    if (kind <= 2) {
      slices[i] = slice(i, rnd(6) === 0 ? [] : ips());
      what = `endpoints of slice-${i}`;
    } else if (kind === 3) {
      services[i] = service(i, 1 + rnd(12));
      what = `spec of svc-${i}`;
    } else if (kind === 4) {
      const bad = makeService('default', `svc-${i}`, {
        clusterIP: `10.96.0.${10 + i}`,
        ports: [{ port: 0 }],
      });
      invalid.add(bad);
      services[i] = bad;
      what = `svc-${i} invalid`;
    } else if (kind === 5) {
      const to = rnd(services.length);
      slices[i] = slice(i, ips(), to);
      what = `slice-${i} moved to svc-${to}`;
    } else if (kind === 6) {
      const n = services.length;
      services.push(service(n, rnd(12)));
      slices.push(slice(n, ips()));
      what = `svc-${n} added`;
    } else {
      services.pop();
      slices.pop();
      what = `svc-${services.length} removed`;
    }
    yield { ...state(), what };
  }
}

const nameOf = (o: { metadata?: { namespace?: string; name?: string } }) =>
  `${o.metadata?.namespace || 'default'}/${o.metadata?.name ?? ''}`;

/** The watch events that turn state `a` into `b` (objects compared by identity, keyed by name). */
export function eventsBetween(a: ServiceState, b: ServiceState): ServiceChanges {
  const diff = <T extends Service | EndpointSlice>(x: readonly T[], y: readonly T[]) => {
    const before = new Map(x.map((o) => [nameOf(o), o]));
    const after = new Map(y.map((o) => [nameOf(o), o]));
    return {
      upsert: [...after].filter(([k, o]) => before.get(k) !== o).map(([, o]) => o),
      deleted: [...before].filter(([k]) => !after.has(k)).map(([, o]) => o),
    };
  };
  const s = diff(a.services, b.services);
  const e = diff(a.endpointSlices, b.endpointSlices);
  return {
    services: s.upsert,
    deletedServices: s.deleted,
    endpointSlices: e.upsert,
    deletedEndpointSlices: e.deleted,
  };
}
