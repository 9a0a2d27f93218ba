import { ExecRunner, type Host, NftSession } from '@podnet/host';
import { type CompileOptions, NetpolCompiler } from './compile.js';
import { NetpolError } from './errors.js';
import { nameOf, namespacedKey } from './keys.js';
import type {
  ClusterNetworkPolicy,
  ClusterState,
  Namespace,
  NetworkPolicy,
  Node,
  Pod,
} from './types.js';
import {
  assertValidClusterNetworkPolicy,
  assertValidNetworkPolicy,
  type InvalidPolicy,
  partitionPolicies,
} from './validate.js';

/** What one {@link PolicySyncer} apply did. */
export interface SyncResult {
  /** The nft script applied (`''` when nothing changed). */
  script: string;
  /** Lines in the script. */
  lines: number;
  /** True when the whole table was rebuilt. */
  full: boolean;
  /**
   * Policies {@link PolicySyncer.sync} skipped as invalid (the rest were applied), each with the
   * `INVALID_POLICY` error naming its bad fields.
   */
  invalid: InvalidPolicy[];
}

/** Options of {@link PolicySyncer}. */
export interface PolicySyncerOptions extends CompileOptions {
  /** `@podnet/host` Host aimed at the node's network namespace. */
  host: Host;
  /**
   * Apply incremental changes through one long-lived `nft -i` ({@link NftSession}) instead of a
   * `nft -f -` per change; full rebuilds still use `nft -f -`. Default: true when `host` runs real
   * processes (an `ExecRunner`), false with a fake runner.
   */
  session?: boolean;
}

/** Records what was applied for `key` (nothing for an object without a name). */
function remember(applied: Map<string, string>, key: string | undefined, object: unknown): void {
  if (key !== undefined) applied.set(key, JSON.stringify(object));
}

/** Keys and the JSON of each object last handed to the compiler, per kind. */
interface Applied {
  namespaces: Map<string, string>;
  pods: Map<string, string>;
  nps: Map<string, string>;
  cnps: Map<string, string>;
  nodes: Map<string, string>;
}

/**
 * Keeps podnet's nftables table on one node in step with the cluster: {@link PolicySyncer.sync}
 * takes a whole state and applies only what changed since the last call; the `upsert*`/`delete*`
 * methods apply one watch event. Every apply is one atomic nft transaction (full rebuilds through
 * `nft -f -`, incremental changes through a long-lived {@link NftSession}); a failed apply makes
 * the next one rebuild the table. {@link PolicySyncer.close} ends the session's `nft` process.
 *
 * Namespaces, pods and nodes without `metadata.name` are ignored. The syncer remembers what it
 * applied per object key, so `sync` and the single-event methods can be mixed: a later
 * `sync(state)` applies only the difference from everything applied before.
 */
export class PolicySyncer {
  readonly compiler: NetpolCompiler;
  private readonly host: Host;
  private last: Applied = {
    namespaces: new Map(),
    pods: new Map(),
    nps: new Map(),
    cnps: new Map(),
    nodes: new Map(),
  };
  private chain: Promise<unknown> = Promise.resolve();
  private readonly useSession: boolean;
  private session?: NftSession;

  constructor(options: PolicySyncerOptions) {
    const { host, session, ...compile } = options;
    this.host = host;
    this.useSession = session ?? host.runner instanceof ExecRunner;
    this.compiler = new NetpolCompiler(compile);
  }

  /**
   * Brings the table to `state`, applying only the difference from what was applied before.
   * Invalid policies are skipped and listed in the result's `invalid` (a previously applied
   * version of one is removed).
   */
  sync(state: ClusterState): Promise<SyncResult> {
    return this.serial(() => {
      const invalid: InvalidPolicy[] = [];
      const nps = partitionPolicies(state.networkPolicies, assertValidNetworkPolicy, invalid);
      const cnps = partitionPolicies(
        state.clusterNetworkPolicies,
        assertValidClusterNetworkPolicy,
        invalid,
      );
      const c = this.compiler;
      const diff = <T>(
        prev: Map<string, string>,
        items: readonly T[],
        key: (t: T) => string | undefined,
        up: (t: T) => void,
        del: (k: string) => void,
      ) => {
        const next = new Map<string, string>();
        for (const it of items) {
          const k = key(it);
          if (k === undefined) continue;
          const json = JSON.stringify(it);
          next.set(k, json);
          if (prev.get(k) !== json) up(it);
        }
        for (const k of prev.keys()) if (!next.has(k)) del(k);
        return next;
      };
      const l = this.last;
      c.batch(() => {
        l.namespaces = diff(
          l.namespaces,
          state.namespaces,
          nameOf,
          (n) => c.upsertNamespace(n),
          (k) => c.deleteNamespace(k),
        );
        l.nodes = diff(
          l.nodes,
          state.nodes ?? [],
          nameOf,
          (n) => c.upsertNode(n),
          (k) => c.deleteNode(k),
        );
        l.pods = diff(
          l.pods,
          state.pods,
          namespacedKey,
          (p) => c.upsertPod(p),
          (k) => c.deletePod(k),
        );
        l.nps = diff(
          l.nps,
          nps,
          namespacedKey,
          (p) => c.upsertNetworkPolicy(p),
          (k) => c.deleteNetworkPolicy(k),
        );
        l.cnps = diff(
          l.cnps,
          cnps,
          nameOf,
          (p) => c.upsertClusterNetworkPolicy(p),
          (k) => c.deleteClusterNetworkPolicy(k),
        );
      });
      return this.flushNow(invalid);
    });
  }

  /** Applies one changed or added pod (ignored without a name). */
  upsertPod(pod: Pod): Promise<SyncResult> {
    return this.event(() => {
      this.compiler.upsertPod(pod);
      remember(this.last.pods, namespacedKey(pod), pod);
    });
  }

  /** Applies a pod deletion (`namespace/name`). */
  deletePod(key: string): Promise<SyncResult> {
    return this.event(() => {
      this.compiler.deletePod(key);
      this.last.pods.delete(key);
    });
  }

  /** Applies one changed or added namespace (ignored without a name). */
  upsertNamespace(ns: Namespace): Promise<SyncResult> {
    return this.event(() => {
      this.compiler.upsertNamespace(ns);
      remember(this.last.namespaces, nameOf(ns), ns);
    });
  }

  /** Applies one changed or added node (ignored without a name). */
  upsertNode(node: Node): Promise<SyncResult> {
    return this.event(() => {
      this.compiler.upsertNode(node);
      remember(this.last.nodes, nameOf(node), node);
    });
  }

  /**
   * Applies one changed or added NetworkPolicy. An invalid one throws `INVALID_POLICY` and
   * changes nothing: its previous version keeps enforcing until the next
   * {@link PolicySyncer.sync} (which removes it).
   */
  upsertNetworkPolicy(np: NetworkPolicy): Promise<SyncResult> {
    return this.event(() => {
      this.compiler.upsertNetworkPolicy(np);
      remember(this.last.nps, namespacedKey(np), np);
    });
  }

  /** Applies a NetworkPolicy deletion (`namespace/name`). */
  deleteNetworkPolicy(key: string): Promise<SyncResult> {
    return this.event(() => {
      this.compiler.deleteNetworkPolicy(key);
      this.last.nps.delete(key);
    });
  }

  /**
   * Applies one changed or added ClusterNetworkPolicy (an invalid one throws `INVALID_POLICY` and
   * changes nothing, as {@link PolicySyncer.upsertNetworkPolicy}).
   */
  upsertClusterNetworkPolicy(cnp: ClusterNetworkPolicy): Promise<SyncResult> {
    return this.event(() => {
      this.compiler.upsertClusterNetworkPolicy(cnp);
      remember(this.last.cnps, nameOf(cnp), cnp);
    });
  }

  /** Applies a ClusterNetworkPolicy deletion. */
  deleteClusterNetworkPolicy(name: string): Promise<SyncResult> {
    return this.event(() => {
      this.compiler.deleteClusterNetworkPolicy(name);
      this.last.cnps.delete(name);
    });
  }

  /** Removes podnet's table from the node (idempotent) and ends the `nft` session process. */
  teardown(): Promise<void> {
    return this.serial(async () => {
      this.endSession();
      const t = `inet ${this.compiler.table}`;
      await this.host.nftApply(`add table ${t}\ndelete table ${t}\n`);
      this.compiler.invalidate();
    });
  }

  /**
   * Ends the long-lived `nft` process (after applies already queued); the table stays. A later
   * apply starts a new process.
   */
  close(): Promise<void> {
    return this.serial(() => this.endSession());
  }

  private endSession(): void {
    this.session?.close();
    this.session = undefined;
  }

  private event(mutate: () => void): Promise<SyncResult> {
    return this.serial(() => {
      mutate();
      return this.flushNow();
    });
  }

  private serial<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async flushNow(invalid: SyncResult['invalid'] = []): Promise<SyncResult> {
    const script = this.compiler.takeScript();
    const full = script.includes(`delete table inet ${this.compiler.table}\n`);
    if (script === '') return { script, lines: 0, full: false, invalid };
    try {
      if (full || !this.useSession) await this.host.nftApply(script, { timeoutMs: 120_000 });
      else {
        this.session ??= new NftSession({ netns: this.host.netns, timeoutMs: 120_000 });
        await this.session.apply(script);
      }
    } catch (cause) {
      this.compiler.invalidate();
      throw new NetpolError(
        'APPLY_FAILED',
        `applying the policy ruleset failed: ${(cause as Error).message}`,
        { cause },
      );
    }
    return { script, lines: script.split('\n').length - 1, full, invalid };
  }
}
