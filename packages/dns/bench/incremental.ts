/**
 * Part 5 of the dns benchmark: the zone patched per object vs a full update, side by side in one
 * process. 10,000 Services, each with one EndpointSlice of 10 ready endpoints, every other one
 * headless (so its endpoints are names: ~135,000 names), in a `ClusterStore`:
 *   - full: `update(store)` (every name compiled and prepared; `update(dnsInput(store))`, what
 *     podnet-dns did on every change before, is timed beside it);
 *   - patch: `update(store, changed)` for one Service added, and for one endpoint of a headless
 *     Service changed (its slice replaced), PATCHES of each, alternating with the full updates;
 *   - the compaction that folds the patched names into a fresh slab now and then;
 *   - heap per 1,000 Services of a server kept per object vs one updated from arrays (each
 *     measured after the other is gone, both paths warmed up first).
 * Every patched server is checked against a full update of the same store before timing ends.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { ClusterStore, dnsInput } from '@podnet/cluster-state';
import {
  DnsServer,
  type K8sEndpointSlice,
  type K8sService,
  PreparedZone,
  compileZone,
  encodeQuery,
} from '../src/index.js';
import { printTable } from './table.js';

const N = 10_000;
const ENDPOINTS = 10;
const NAMESPACES = 100;
const ROUNDS = 3;
const PATCHES = 40;

function service(i: number, headless = i % 2 === 0): K8sService {
  return {
    metadata: { name: `svc-${i}`, namespace: `ns-${i % NAMESPACES}` },
    spec: {
      clusterIP: headless ? 'None' : `10.96.${(i >> 8) & 0xff}.${i & 0xff}`,
      ports: [{ name: 'http', port: 80 }],
    },
  };
}

/** The slice of Service `i`; `shift` moves its endpoints along (one changed address per step). */
function slice(i: number, shift = 0): K8sEndpointSlice {
  const base = `10.${64 + (i >> 12)}.${(i >> 4) & 0xff}`;
  return {
    metadata: {
      name: `svc-${i}-x7k2p`,
      namespace: `ns-${i % NAMESPACES}`,
      labels: { 'kubernetes.io/service-name': `svc-${i}` },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080 }],
    endpoints: Array.from({ length: ENDPOINTS }, (_, j) => ({
      addresses: [`${base}.${((i & 15) << 4) | ((j + (j === 0 ? shift : 0)) & 15)}`],
      conditions: { ready: true },
    })),
  };
}

function fill(store: ClusterStore, n: number): void {
  store.transaction((tx) => {
    for (let i = 0; i < n; i++) {
      tx.upsert('Service', service(i));
      tx.upsert('EndpointSlice', slice(i));
    }
  });
}

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? Number.NaN;
}

/** What part 5 measured (milliseconds, MB). */
export interface IncrementalResult {
  services: number;
  endpointsPerService: number;
  names: number;
  fullMs: number[];
  fullFromArraysMs: number[];
  addServiceMs: { median: number; p95: number; max: number };
  changeEndpointMs: { median: number; p95: number; max: number };
  ratioAddService: number;
  ratioChangeEndpoint: number;
  compactMs: number;
  heapPerThousandMb: { perObject: number; fromArrays: number };
}

/** Runs part 5 and prints its table. */
export async function incrementalBench(): Promise<IncrementalResult> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const store = new ClusterStore();
  fill(store, N);
  dnsInput(store); // the store keeps its sorted lists from here on
  // warm up both paths (JIT, lazily made caches) on a small store before measuring memory
  const small = new ClusterStore();
  fill(small, 100);
  new DnsServer().update(small);
  new DnsServer().update(dnsInput(small));

  const heap = (): number => {
    gc();
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const perThousand = (bytes: number): number => bytes / (N / 1000) / (1024 * 1024);
  let h0 = heap();
  let fromArrays: DnsServer | null = new DnsServer();
  fromArrays.update(dnsInput(store));
  const heapArrays = perThousand(heap() - h0);
  fromArrays = null;
  h0 = heap();
  const patched = new DnsServer();
  patched.update(store);
  const heapPerObject = perThousand(heap() - h0);
  const names = patched.names;

  const full = new DnsServer();
  const fullMs: number[] = [];
  const fullFromArraysMs: number[] = [];
  const add: number[] = [];
  const change: number[] = [];
  let added = N;
  let shift = 0;
  for (let r = 0; r < ROUNDS; r++) {
    gc();
    fullMs.push(time(() => full.update(store)));
    gc();
    fullFromArraysMs.push(time(() => full.update(dnsInput(store))));
    gc();
    for (let k = 0; k < PATCHES; k++) {
      const i = added++;
      store.transaction((tx) => tx.upsert('Service', service(i, false)));
      const svcKey = `ns-${i % NAMESPACES}/svc-${i}`;
      add.push(time(() => patched.update(store, { services: [svcKey] })));
      const j = (2 * k * 37) % N; // a headless Service
      shift = (shift % 15) + 1;
      store.transaction((tx) => tx.upsert('EndpointSlice', slice(j, shift)));
      const sliceKey = `ns-${j % NAMESPACES}/svc-${j}-x7k2p`;
      change.push(time(() => patched.update(store, { endpointSlices: [sliceKey] })));
    }
  }

  // the patched server answers as a full update of the same store does
  full.update(store);
  for (const name of [
    `svc-${added - 1}.ns-${(added - 1) % NAMESPACES}.svc.cluster.local`,
    'svc-0.ns-0.svc.cluster.local',
    '_http._tcp.svc-0.ns-0.svc.cluster.local',
  ]) {
    for (const type of ['A', 'SRV'] as const) {
      const q = encodeQuery({ id: 1, name, type, udpSize: 1232 });
      const a = await patched.handle(q, 'tcp');
      const b = await full.handle(q, 'tcp');
      // positive answers: no SOA, so no serial to differ in
      if (!a || !b || Buffer.compare(a, b) !== 0)
        throw new Error(`patched and full answers differ for ${name} ${type}`);
    }
  }
  if (patched.names !== full.names) throw new Error('patched and full zones differ in size');

  // the compaction patches pay for now and then (once the overlay indexes 1/8 of the names)
  const zone = compileZone(dnsInput(store));
  const prepared = new PreparedZone(zone);
  prepared.patch(zone, [...zone.nodes.keys()].slice(0, 1000));
  gc();
  const compactMs = time(() => prepared.compact());

  const stats = (xs: number[]) => ({
    median: quantile(xs, 0.5),
    p95: quantile(xs, 0.95),
    max: Math.max(...xs),
  });
  const result: IncrementalResult = {
    services: N,
    endpointsPerService: ENDPOINTS,
    names,
    fullMs,
    fullFromArraysMs,
    addServiceMs: stats(add),
    changeEndpointMs: stats(change),
    ratioAddService: quantile(fullMs, 0.5) / quantile(add, 0.5),
    ratioChangeEndpoint: quantile(fullMs, 0.5) / quantile(change, 0.5),
    compactMs,
    heapPerThousandMb: { perObject: heapPerObject, fromArrays: heapArrays },
  };
  print(result);
  return result;
}

function print(r: IncrementalResult): void {
  const fmt = (n: number, d = 0): string =>
    n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const ms = (n: number): string => `${fmt(n, n < 10 ? 2 : 0)} ms`;
  // p95 and max include garbage collection that other work (the full updates) left to do
  const rows: string[][] = [
    ['update', 'median', 'p95', 'max', 'full / this'],
    ['full: update(store)', ms(quantile(r.fullMs, 0.5)), '', ms(Math.max(...r.fullMs)), '1'],
    [
      'full: update(dnsInput(store)) (podnet-dns before)',
      ms(quantile(r.fullFromArraysMs, 0.5)),
      '',
      ms(Math.max(...r.fullFromArraysMs)),
      '',
    ],
    [
      'patch: one Service added',
      ms(r.addServiceMs.median),
      ms(r.addServiceMs.p95),
      ms(r.addServiceMs.max),
      fmt(r.ratioAddService),
    ],
    [
      'patch: one endpoint changed (headless Service)',
      ms(r.changeEndpointMs.median),
      ms(r.changeEndpointMs.p95),
      ms(r.changeEndpointMs.max),
      fmt(r.ratioChangeEndpoint),
    ],
    ['compaction of patched names into a fresh slab', ms(r.compactMs), '', '', ''],
  ];
  console.log(
    `\nDNS zone update at ${fmt(r.services)} Services × ${r.endpointsPerService} endpoints ` +
      `(every other one headless; ${fmt(r.names)} names), ${ROUNDS} full updates and ` +
      `${ROUNDS * PATCHES} patches of each kind, alternating, in one process\n`,
  );
  printTable(rows);
  console.log(
    `\nratio: a full update costs ${fmt(r.ratioAddService)} × a patch adding one Service and ` +
      `${fmt(r.ratioChangeEndpoint)} × a patch changing one endpoint (medians); heap per 1,000 ` +
      `Services ${fmt(r.heapPerThousandMb.perObject, 2)} MB kept per object vs ` +
      `${fmt(r.heapPerThousandMb.fromArrays, 2)} MB updated from arrays; the compaction ` +
      `(${ms(r.compactMs)}) runs once the patched names reach an eighth of the zone's`,
  );
}
