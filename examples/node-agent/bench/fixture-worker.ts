/**
 * The convergence benchmark's API server: an ApiFixture holding the synthetic cluster, run on a
 * worker thread of the bench process so that serving big lists (the fixture sorts a whole kind
 * for every page) never stalls the main thread, which timestamps what the agent does. Started by
 * {@link startFixtureWorker}; listens on 127.0.0.1 of the bench's namespace.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type ObjectKind, RESOURCE_PATHS } from '@podnet/cluster-state';
import { ApiFixture, type FixtureObject } from '@podnet/cluster-state/testing';
import { v8FullGc } from '@podnet/host/heap-compactor';
import { buildCluster, type ClusterScale } from './convergence-cluster.js';
import { nowMs } from './netns-tools.js';

/** The fixture on its worker thread. */
export interface FixtureWorker {
  /** `http://127.0.0.1:PORT` in the bench process's namespace. */
  readonly url: string;
  /** Creates or replaces an object; resolves with when its watch event was written ({@link nowMs}). */
  upsert(kind: ObjectKind, object: unknown): Promise<number>;
  /** Runs a full garbage collection on the worker's thread (between samples, never during one). */
  gc(): Promise<void>;
  stop(): Promise<void>;
}

type Request = { id: number; kind: ObjectKind; object: FixtureObject } | { id: number; gc: true };

/** Starts the worker with the cluster {@link buildCluster} makes for `scale`, loaded. */
export function startFixtureWorker(scale: ClusterScale): Promise<FixtureWorker> {
  // a worker thread does not inherit tsx's loader: register it there before loading this file
  const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); });`;
  const worker = new Worker(boot, { eval: true, workerData: { scale } });
  const pending = new Map<number, (at: number) => void>();
  let next = 0;
  const ask = (request: { kind: ObjectKind; object: FixtureObject } | { gc: true }) =>
    new Promise<number>((res) => {
      const id = next++;
      pending.set(id, res);
      worker.postMessage({ id, ...request } as Request);
    });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (m: { url?: string; id?: number; at?: number }) => {
      if (m.url) {
        resolve({
          url: m.url,
          upsert: (kind, object) => ask({ kind, object: object as FixtureObject }),
          gc: async () => {
            await ask({ gc: true });
          },
          stop: async () => {
            await worker.terminate();
          },
        });
      } else if (m.id !== undefined) {
        pending.get(m.id)?.(m.at!);
        pending.delete(m.id);
      }
    });
  });
}

async function serve(scale: ClusterScale): Promise<void> {
  const c = buildCluster(scale);
  const fx = new ApiFixture();
  const put = (kind: ObjectKind, objs: readonly unknown[]) => {
    for (const o of objs) fx.upsert(RESOURCE_PATHS[kind], o as FixtureObject);
  };
  put('Node', c.nodes);
  put('Namespace', c.namespaces);
  put('Pod', c.pods);
  put('Service', c.services);
  put('EndpointSlice', c.endpointSlices);
  put('NetworkPolicy', c.networkPolicies);
  const url = await fx.start();
  parentPort!.on('message', (r: Request) => {
    const at = nowMs();
    if ('gc' in r) v8FullGc()();
    else fx.upsert(RESOURCE_PATHS[r.kind], r.object);
    parentPort!.postMessage({ id: r.id, at });
  });
  parentPort!.postMessage({ url });
}

if (!isMainThread && (workerData as { scale?: ClusterScale } | null)?.scale) {
  void serve((workerData as { scale: ClusterScale }).scale);
}
