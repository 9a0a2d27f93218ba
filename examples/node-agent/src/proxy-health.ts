/**
 * kube-proxy's own health (`/healthz`, `/livez` on the healthz bind address, 10256 by default):
 * the state that decides it and the answers, as plain values. Pure (the clock is passed in).
 *
 * Semantics as kube-proxy's proxy health server: the proxy is healthy unless a Service or
 * EndpointSlice change has been waiting to be programmed for longer than the health timeout
 * (kube-proxy: twice its sync period). `/healthz` is also unhealthy while the node is going away
 * (its Node has a `deletionTimestamp`, carries the cluster autoscaler's
 * `ToBeDeletedByClusterAutoscaler` taint, or was deleted); `/livez` ignores the node.
 */
import type { Node } from '@podnet/cluster-state';

/** The cluster autoscaler's taint on a Node it is about to delete. */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

/** One HTTP answer: status, headers and body. */
export interface HealthAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The headers kube-proxy sends with every health answer. */
export const HEALTH_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  'x-content-type-options': 'nosniff',
};

/**
 * Whether a node may take load-balancer traffic, as kube-proxy decides it: false for a deleted
 * Node (`undefined` after it was seen), one with a `deletionTimestamp`, or one tainted
 * {@link TO_BE_DELETED_TAINT}.
 */
export function nodeEligible(node: Node | undefined): boolean {
  if (!node) return false;
  if (node.metadata?.deletionTimestamp) return false;
  return !(node.spec?.taints ?? []).some((t) => t.key === TO_BE_DELETED_TAINT);
}

/**
 * The proxy's health state. Call {@link ProxyHealth.queued} when a change that must be
 * programmed arrives, {@link ProxyHealth.updated} after the data plane was programmed
 * successfully, and {@link ProxyHealth.syncNode} with this node's Node object as it changes.
 */
export class ProxyHealth {
  private lastUpdated?: number;
  private oldestPending?: number;
  private eligible = true;

  /** `timeoutMs`: how long a queued change may wait before the proxy counts as unhealthy. */
  constructor(readonly timeoutMs: number) {}

  /** A change arrived that is not programmed yet (the oldest pending one is kept). */
  queued(now: number): void {
    this.oldestPending ??= now;
  }

  /** Everything queued so far is programmed. */
  updated(now: number): void {
    this.oldestPending = undefined;
    this.lastUpdated = now;
  }

  /**
   * This node's Node object changed (`undefined`: it was deleted). The node counts as eligible
   * while the agent starts, until the first Node event says otherwise.
   */
  syncNode(node: Node | undefined): void {
    this.eligible = nodeEligible(node);
  }

  /** Whether the node is eligible ({@link nodeEligible} of the last Node seen). */
  get nodeEligible(): boolean {
    return this.eligible;
  }

  /** Healthy: nothing pending, or the oldest pending change younger than the timeout. */
  healthy(now: number): boolean {
    return this.oldestPending === undefined || now - this.oldestPending < this.timeoutMs;
  }

  /** The `/healthz` answer: 503 when unhealthy or the node is not eligible. */
  healthz(now: number): HealthAnswer {
    const ok = this.healthy(now) && this.eligible;
    return {
      status: ok ? 200 : 503,
      headers: HEALTH_HEADERS,
      body: JSON.stringify({
        lastUpdated: this.stamp(ok, now),
        currentTime: new Date(now).toISOString(),
        nodeEligible: this.eligible,
      }),
    };
  }

  /** The `/livez` answer: 503 only when unhealthy (the node's state does not count). */
  livez(now: number): HealthAnswer {
    const ok = this.healthy(now);
    return {
      status: ok ? 200 : 503,
      headers: HEALTH_HEADERS,
      body: JSON.stringify({
        lastUpdated: this.stamp(ok, now),
        currentTime: new Date(now).toISOString(),
      }),
    };
  }

  /**
   * `lastUpdated` as kube-proxy reports it: the current time while healthy (older releases
   * reported the last sync loop run, which ran even when nothing changed), else the last
   * successful programming (the epoch when there was none).
   */
  private stamp(ok: boolean, now: number): string {
    return new Date(ok ? now : (this.lastUpdated ?? 0)).toISOString();
  }
}
