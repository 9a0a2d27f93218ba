import {
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  NetworkingV1Api,
  Watch,
} from '@kubernetes/client-node';
import {
  type ClusterKind,
  type ClusterSnapshot,
  type ClusterSource,
  sortObjects,
} from '../cluster-state.js';
import type { Logger } from '../log.js';
export { KUBERNETES_ACCESS, type KubernetesAccess } from '../kubernetes-access.js';

/** Options of {@link KubernetesSource}. */
export interface KubernetesSourceOptions {
  /** Path of a kubeconfig file; default: in-cluster service account, else `~/.kube/config`. */
  readonly kubeconfig?: string;
  /** Or a ready KubeConfig (tests). */
  readonly kubeConfig?: KubeConfig;
  readonly log: Logger;
  /** Restart a watch that delivered nothing for this long (default 300 s). */
  readonly watchIdleMs?: number;
  /** First retry delay after an error (default 250 ms), doubled up to `maxBackoffMs` (30 s). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Coalesce bursts of events into one snapshot (default 20 ms). */
  readonly debounceMs?: number;
}

interface ResourceSpec {
  readonly field: ClusterKind;
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<KubernetesObject>>;
}

interface ResourceState {
  readonly spec: ResourceSpec;
  readonly objects: Map<string, KubernetesObject>;
  generation: number;
  informer?: ListWatch<KubernetesObject>;
  listed: boolean;
  lastActivity: number;
  backoffMs: number;
  restartTimer?: NodeJS.Timeout;
}

/** Counters of the source's informer life (exported as metrics). */
export interface KubernetesSourceStats {
  lists: number;
  errors: number;
  restarts: number;
  watchdogRestarts: number;
}

function key(o: KubernetesObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/**
 * Cluster state from the API server through `@kubernetes/client-node` informers (one per kind).
 * An informer that errors is replaced by a fresh one after an exponential backoff (it relists, so
 * deletions missed meanwhile are seen); 410 Gone relists; a watch that stays silent longer than
 * `watchIdleMs` is restarted by a watchdog.
 */
export class KubernetesSource implements ClusterSource {
  readonly stats: KubernetesSourceStats = { lists: 0, errors: 0, restarts: 0, watchdogRestarts: 0 };
  private readonly resources: ResourceState[];
  private readonly kc: KubeConfig;
  private onChange: (s: ClusterSnapshot) => void = () => {};
  private debounce?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly options: KubernetesSourceOptions) {
    this.kc = options.kubeConfig ?? loadKubeConfig(options.kubeconfig);
    const core = this.kc.makeApiClient(CoreV1Api);
    const discovery = this.kc.makeApiClient(DiscoveryV1Api);
    const networking = this.kc.makeApiClient(NetworkingV1Api);
    const specs: ResourceSpec[] = [
      { field: 'nodes', path: '/api/v1/nodes', list: () => core.listNode() },
      { field: 'namespaces', path: '/api/v1/namespaces', list: () => core.listNamespace() },
      { field: 'pods', path: '/api/v1/pods', list: () => core.listPodForAllNamespaces() },
      {
        field: 'services',
        path: '/api/v1/services',
        list: () => core.listServiceForAllNamespaces(),
      },
      {
        field: 'endpointSlices',
        path: '/apis/discovery.k8s.io/v1/endpointslices',
        list: () => discovery.listEndpointSliceForAllNamespaces(),
      },
      {
        field: 'networkPolicies',
        path: '/apis/networking.k8s.io/v1/networkpolicies',
        list: () => networking.listNetworkPolicyForAllNamespaces(),
      },
    ] as ResourceSpec[];
    this.resources = specs.map((spec) => ({
      spec,
      objects: new Map(),
      generation: 0,
      listed: false,
      lastActivity: Date.now(),
      backoffMs: options.minBackoffMs ?? 250,
    }));
  }

  get synced(): boolean {
    return this.resources.every((r) => r.listed);
  }

  async start(onChange: (snapshot: ClusterSnapshot) => void): Promise<void> {
    this.onChange = onChange;
    for (const r of this.resources) this.launch(r);
    const idle = this.options.watchIdleMs ?? 300_000;
    this.watchdog = setInterval(
      () => {
        const now = Date.now();
        for (const r of this.resources) {
          if (r.restartTimer || now - r.lastActivity < idle) continue;
          this.stats.watchdogRestarts++;
          this.options.log.warn('watch silent; restarting informer', {
            resource: r.spec.field,
            idleMs: now - r.lastActivity,
          });
          this.launch(r);
        }
      },
      Math.max(50, Math.min(idle / 4, 10_000)),
    );
    this.watchdog.unref();
  }

  /** The current state of every kind (whatever has been listed so far). */
  snapshot(): ClusterSnapshot {
    const out: Record<string, KubernetesObject[]> = {};
    for (const r of this.resources) out[r.spec.field] = sortObjects([...r.objects.values()]);
    return out as unknown as ClusterSnapshot;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.debounce);
    for (const r of this.resources) {
      clearTimeout(r.restartTimer);
      r.generation++;
      const inf = r.informer;
      r.informer = undefined;
      await inf?.stop().catch(() => {});
    }
  }

  private launch(r: ResourceState): void {
    if (this.stopped) return;
    clearTimeout(r.restartTimer);
    r.restartTimer = undefined;
    const old = r.informer;
    const gen = ++r.generation;
    if (old) {
      this.stats.restarts++;
      void old.stop().catch(() => {});
    }
    r.lastActivity = Date.now();
    const current = () => gen === r.generation && !this.stopped;
    const list = async () => {
      const result = await r.spec.list();
      if (current()) {
        this.stats.lists++;
        r.objects.clear();
        for (const o of result.items ?? []) r.objects.set(key(o), o);
        r.listed = true;
        r.lastActivity = Date.now();
        r.backoffMs = this.options.minBackoffMs ?? 250;
        this.changed();
      }
      return result;
    };
    const inf = new ListWatch<KubernetesObject>(r.spec.path, new Watch(this.kc), list, false);
    r.informer = inf;
    const touch = () => {
      if (current()) r.lastActivity = Date.now();
    };
    inf.on('add', (o) => {
      if (!current()) return;
      touch();
      r.objects.set(key(o), o);
      this.changed();
    });
    inf.on('update', (o) => {
      if (!current()) return;
      touch();
      r.objects.set(key(o), o);
      this.changed();
    });
    inf.on('delete', (o) => {
      if (!current()) return;
      touch();
      r.objects.delete(key(o));
      this.changed();
    });
    inf.on('connect', touch);
    inf.on('error', (err) => {
      if (!current()) return;
      this.stats.errors++;
      const delay = r.backoffMs;
      r.backoffMs = Math.min(r.backoffMs * 2, this.options.maxBackoffMs ?? 30_000);
      this.options.log.warn('informer failed; restarting after backoff', {
        resource: r.spec.field,
        error: String((err as Error)?.message ?? err),
        delayMs: delay,
      });
      r.restartTimer = setTimeout(() => this.launch(r), delay * (0.8 + Math.random() * 0.4));
    });
    inf.start().catch((err: unknown) => {
      if (!current()) return;
      this.stats.errors++;
      r.restartTimer = setTimeout(() => this.launch(r), r.backoffMs);
      this.options.log.warn('informer start failed', {
        resource: r.spec.field,
        error: String(err),
      });
    });
  }

  private changed(): void {
    if (!this.synced) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      if (!this.stopped) this.onChange(this.snapshot());
    }, this.options.debounceMs ?? 20);
  }
}

function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
