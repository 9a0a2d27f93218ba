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
   * Policies {@link PolicySyncer.sync} or {@link PolicySyncer.update} skipped as invalid (the
   * rest were applied), each with the `INVALID_POLICY` error naming its bad fields.
   */
  invalid: InvalidPolicy[];
  /** Seconds from the start of the sync or update to the end of its transaction. */
  durationSeconds: number;
  /** Of which seconds spent in nft (the `nft -f -` process, or the batch in the session). */
  applySeconds: number;
}

/**
 * Watch changes for {@link PolicySyncer.update}: objects added or updated, and keys deleted
 * (`namespace/name` for pods and NetworkPolicies, `name` for namespaces, nodes and
 * ClusterNetworkPolicies). Every field is optional; `@podnet/cluster-state`'s `PolicyDeltaInput`
 * (what `policyChanges(batch)` returns) fits as it is.
 */
export interface PolicyChanges {
  namespaces?: readonly Namespace[];
  deletedNamespaces?: readonly string[];
  pods?: readonly Pod[];
  deletedPods?: readonly string[];
  nodes?: readonly Node[];
  deletedNodes?: readonly string[];
  networkPolicies?: readonly NetworkPolicy[];
  deletedNetworkPolicies?: readonly string[];
  clusterNetworkPolicies?: readonly ClusterNetworkPolicy[];
  deletedClusterNetworkPolicies?: readonly string[];
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

/** The chain {@link PolicySyncer.warm} adds and removes in one transaction (no compiled name). */
const WARM_CHAIN = 'podnet_warm';

/**
 * Keeps podnet's nftables table on one node in step with the cluster: {@link PolicySyncer.sync}
 * takes a whole state and applies only what changed since the last call;
 * {@link PolicySyncer.update} applies a batch of watch changes; the `upsert*`/`delete*` methods
 * apply one watch event. Every apply is one atomic nft transaction (full rebuilds through
 * `nft -f -`, incremental changes through a long-lived {@link NftSession}); a failed apply makes
 * the next one rebuild the table. {@link PolicySyncer.close} ends the session's `nft` process.
 *
 * Namespaces, pods and nodes without `metadata.name` are ignored. The syncer remembers what it
 * applied per object key, so `sync`, `update` and the single-event methods can be mixed: a later
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
   * version of one is removed, as {@link PolicySyncer.update} does).
   */
  sync(state: ClusterState): Promise<SyncResult> {
    return this.serial(() => {
      const started = performance.now();
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
      return this.flushNow(started, invalid);
    });
  }

  /**
   * Applies a batch of watch changes in ONE nft transaction (the compiler recomputes each
   * affected pod's dispatch once for the whole batch).
   *
   * Order: every deletion first, then the added and updated objects (namespaces, nodes, pods,
   * NetworkPolicies, ClusterNetworkPolicies; later entries for a key win). A key both deleted and
   * upserted in one batch therefore ends up present: a projection must not list an object that
   * was upserted and then deleted within its batch as both (cluster-state's `policyChanges`
   * lists each delta; when a batch can hold both for one key, coalesce it first). An object
   * whose JSON equals what was last applied for its key costs nothing. Namespaces, pods and
   * nodes without a name are ignored.
   *
   * An invalid policy is skipped, listed in the result's `invalid`, and a previously applied
   * version of it (same key) is REMOVED rather than left enforcing. The enforced ruleset thus
   * depends only on the current objects, never on their history: `update()` ends where a fresh
   * `sync()` of the resulting state would, and where an agent restarted now would. That is what
   * kube-network-policies does too: it evaluates the objects its informers hold now and skips a
   * policy whose selector does not parse, with no memory of an earlier version. (An API server
   * rejects an invalid edit, so the old version stays the current object there; an invalid
   * object reaching podnet came from a source without that check, such as a manifest directory,
   * and its previous content is gone from that source.) Removing a policy lifts the isolation it
   * imposed along with its allow rules: log or alert on `invalid`.
   *
   * Throws `APPLY_FAILED` when nft rejects the transaction (the next apply rebuilds the table).
   */
  update(changes: PolicyChanges): Promise<SyncResult> {
    return this.serial(() => {
      const started = performance.now();
      const invalid: InvalidPolicy[] = [];
      const c = this.compiler;
      const l = this.last;
      const up = <T>(
        prev: Map<string, string>,
        items: readonly T[] | undefined,
        key: (t: T) => string | undefined,
        apply: (t: T) => void,
      ) => {
        for (const it of items ?? []) {
          const k = key(it);
          if (k === undefined) continue;
          const json = JSON.stringify(it);
          if (prev.get(k) === json) continue;
          apply(it);
          prev.set(k, json);
        }
      };
      const del = (
        prev: Map<string, string>,
        keys: readonly string[] | undefined,
        drop: (k: string) => void,
      ) => {
        for (const k of keys ?? []) {
          drop(k);
          prev.delete(k);
        }
      };
      // Policies: an invalid one is reported and the version applied before (same key) removed.
      const upPolicies = <T>(
        prev: Map<string, string>,
        items: readonly T[] | undefined,
        key: (t: T) => string | undefined,
        apply: (t: T) => void,
        drop: (k: string) => void,
      ) => {
        for (const it of items ?? []) {
          const k = key(it);
          const json = JSON.stringify(it);
          if (k !== undefined && prev.get(k) === json) continue;
          try {
            apply(it);
          } catch (error) {
            if (!NetpolError.isInstance(error) || error.code !== 'INVALID_POLICY') throw error;
            invalid.push({ object: error.object ?? '(unnamed)', error });
            if (k !== undefined && prev.delete(k)) drop(k);
            continue;
          }
          if (k !== undefined) prev.set(k, json);
        }
      };
      c.batch(() => {
        del(l.nps, changes.deletedNetworkPolicies, (k) => c.deleteNetworkPolicy(k));
        del(l.cnps, changes.deletedClusterNetworkPolicies, (k) => c.deleteClusterNetworkPolicy(k));
        del(l.pods, changes.deletedPods, (k) => c.deletePod(k));
        del(l.nodes, changes.deletedNodes, (k) => c.deleteNode(k));
        del(l.namespaces, changes.deletedNamespaces, (k) => c.deleteNamespace(k));
        up(l.namespaces, changes.namespaces, nameOf, (n) => c.upsertNamespace(n));
        up(l.nodes, changes.nodes, nameOf, (n) => c.upsertNode(n));
        up(l.pods, changes.pods, namespacedKey, (p) => c.upsertPod(p));
        upPolicies(
          l.nps,
          changes.networkPolicies,
          namespacedKey,
          (np) => c.upsertNetworkPolicy(np),
          (k) => c.deleteNetworkPolicy(k),
        );
        upPolicies(
          l.cnps,
          changes.clusterNetworkPolicies,
          nameOf,
          (cnp) => c.upsertClusterNetworkPolicy(cnp),
          (k) => c.deleteClusterNetworkPolicy(k),
        );
      });
      return this.flushNow(started, invalid);
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
   * changes nothing: its previous version keeps enforcing until the next {@link PolicySyncer.sync}
   * or {@link PolicySyncer.update} (which remove it; prefer `update` for watch streams).
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

  /**
   * Readies the incremental session for the next event again, for when other tables were loaded
   * beside this one after its full rebuild (the agent loads the services' table after the
   * policies' at 10,000 Services, and the session's first pod event then took ~12 ms in nft
   * instead of ~4). One transaction in the session with the shape of a pod's event and nothing
   * left behind: a chain with a rule, and an `in_4` dispatch element no pod can have
   * (`0.0.0.0`) going to it, added and removed again. Resolves true when applied; false when
   * there is nothing to warm (no session, or the table not loaded: events then rebuild it in
   * full anyway) or nft refused it (the session is dropped, as after a failed warm-up). Never
   * throws.
   */
  warm(): Promise<boolean> {
    return this.serial(async () =>
      this.useSession && !this.compiler.pendingFull ? this.warmSession() : false,
    );
  }

  /**
   * The no-op of {@link PolicySyncer.warm}, also run right after each full rebuild so the first
   * watch event does not pay for the `nft` process start either. A failure here only drops the
   * session.
   */
  private async warmSession(): Promise<boolean> {
    const t = `inet ${this.compiler.table}`;
    try {
      await this.sessionOf().apply(
        `add chain ${t} ${WARM_CHAIN}\n` +
          `add rule ${t} ${WARM_CHAIN} drop\n` +
          `add element ${t} in_4 { 0.0.0.0 : goto ${WARM_CHAIN} }\n` +
          `delete element ${t} in_4 { 0.0.0.0 }\n` +
          `flush chain ${t} ${WARM_CHAIN}\n` +
          `delete chain ${t} ${WARM_CHAIN}\n`,
      );
      return true;
    } catch {
      this.endSession();
      return false;
    }
  }

  /** The incremental session, started on first use. */
  private sessionOf(): NftSession {
    this.session ??= new NftSession({ netns: this.host.netns, timeoutMs: 120_000 });
    return this.session;
  }

  private endSession(): void {
    this.session?.close();
    this.session = undefined;
  }

  /**
   * The FQDN egress elements the kernel holds now (what pods resolved, written by the DNS server
   * with timeouts), as `add element` lines with their remaining time, for the sets the rebuilt
   * table keeps: a whole-table rebuild (an agent restart, a retry after a failed apply) then
   * leaves every pod the access it had, in the same transaction. A set or table that is not
   * there yet contributes nothing. One `nft -j list set` per FQDN set, only on a full rebuild.
   */
  private async keptFqdnElements(): Promise<string> {
    const t = `inet ${this.compiler.table}`;
    const out: string[] = [];
    for (const name of this.compiler.fqdnSets()) {
      let json: string;
      try {
        json = await this.host.nft(['-j', 'list', 'set', 'inet', this.compiler.table, name]);
      } catch {
        continue;
      }
      const elements = liveTimeoutElements(json);
      for (let i = 0; i < elements.length; i += 500)
        out.push(`add element ${t} ${name} { ${elements.slice(i, i + 500).join(', ')} }`);
    }
    return out.length === 0 ? '' : `${out.join('\n')}\n`;
  }

  private event(mutate: () => void): Promise<SyncResult> {
    return this.serial(() => {
      const started = performance.now();
      mutate();
      return this.flushNow(started);
    });
  }

  private serial<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async flushNow(
    started: number,
    invalid: SyncResult['invalid'] = [],
  ): Promise<SyncResult> {
    let script = this.compiler.takeScript();
    const full = script.includes(`delete table inet ${this.compiler.table}\n`);
    const seconds = () => (performance.now() - started) / 1000;
    if (script === '')
      return {
        script,
        lines: 0,
        full: false,
        invalid,
        durationSeconds: seconds(),
        applySeconds: 0,
      };
    if (full) script += await this.keptFqdnElements();
    const applyStarted = performance.now();
    try {
      if (full || !this.useSession) await this.host.nftApply(script, { timeoutMs: 120_000 });
      else await this.sessionOf().apply(script);
    } catch (cause) {
      this.compiler.invalidate();
      throw new NetpolError(
        'APPLY_FAILED',
        `applying the policy ruleset failed: ${(cause as Error).message}`,
        { cause },
      );
    }
    const applySeconds = (performance.now() - applyStarted) / 1000;
    const durationSeconds = seconds();
    if (full && this.useSession) await this.warmSession();
    return {
      script,
      lines: script.split('\n').length - 1,
      full,
      invalid,
      durationSeconds,
      applySeconds,
    };
  }
}

/**
 * The elements of an `nft -j list set` answer for a concatenated set with timeouts, as
 * `a . b timeout Ns` with N the time each has left (elements about to expire, or without an
 * expiry, are left out). Pure; anything that is not such an answer gives none.
 */
export function liveTimeoutElements(json: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return [];
  }
  const out: string[] = [];
  const items = (doc as { nftables?: unknown[] } | null)?.nftables;
  if (!Array.isArray(items)) return out;
  for (const item of items) {
    const elems = (item as { set?: { elem?: unknown[] } } | null)?.set?.elem;
    if (!Array.isArray(elems)) continue;
    for (const e of elems) {
      const el = (e as { elem?: { val?: { concat?: unknown[] }; expires?: unknown } } | null)?.elem;
      const parts = el?.val?.concat;
      const left = el?.expires;
      if (!Array.isArray(parts) || typeof left !== 'number' || left < 1) continue;
      if (!parts.every((p) => typeof p === 'string' && /^[0-9a-fA-F:.]+$/.test(p))) continue;
      out.push(`${parts.join(' . ')} timeout ${Math.floor(left)}s`);
    }
  }
  return out;
}
