import type { ClusterStore } from './store.js';
import type { ObjectKind } from './types.js';

/** Structured log lines a source writes (the agent's logger fits). */
export interface SourceLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything. */
export const silentLogger: SourceLogger = { info() {}, warn() {}, error() {} };

/**
 * Where cluster state comes from: a source keeps a {@link ClusterStore} equal to what it
 * watches (a directory of manifests, the Kubernetes API), in transactions the store turns into
 * typed deltas.
 */
export interface ClusterSource {
  /** The kinds this source fills. */
  readonly kinds: readonly ObjectKind[];
  /** Starts filling `store`; resolves once started (not necessarily synced). */
  start(store: ClusterStore): Promise<void>;
  /** True once every kind has been listed at least once. */
  readonly synced: boolean;
  /** Counters for metrics (names are stable). */
  readonly stats: Readonly<Record<string, number>>;
  stop(): Promise<void>;
}
