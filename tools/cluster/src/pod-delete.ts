import { type BackoffOptions, retryWithBackoff } from './backoff.js';
import { ClusterError } from './errors.js';

/** Options of {@link Cluster.deletePod} (and {@link deletePodThrough}). */
export interface DeletePodOptions {
  /** How long a failing CNI DEL is retried with backoff (default 60 000 ms), as kubelet does. */
  timeoutMs?: number;
  /** Told about each failed DEL that is retried. */
  progress?: (message: string) => void;
  /** Clock and pause of the backoff (tests). */
  now?: BackoffOptions['now'];
  sleep?: BackoffOptions['sleep'];
}

/** The steps of deleting one pod, as the runtime performs them. */
export interface PodDeleteSteps {
  /** Kills the pod's processes. */
  stopServer(): void;
  /** One CNI DEL of the pod's attachment (absent: the pod never got one). */
  del?: () => Promise<void>;
  /** Removes the pod's network namespace. */
  removeNetns(): Promise<void>;
  /** Removes the pod from the cluster state. */
  forget(): Promise<void>;
}

/**
 * Deletes a pod as kubelet tears down a sandbox: stop its processes, then CNI DEL, retried with
 * backoff while it fails (say the node's agent is restarting) for `timeoutMs`; only once DEL has
 * succeeded are the namespace removed and the pod forgotten. If DEL never succeeds the pod keeps
 * its namespace and its place in the state, so its address and attachment stay accounted for
 * (delete it again, or GC the node), and `CNI_FAILED` is thrown. `pod` names it in messages.
 */
export async function deletePodThrough(
  pod: { id: string; node: string },
  steps: PodDeleteSteps,
  options: DeletePodOptions = {},
): Promise<void> {
  steps.stopServer();
  const del = steps.del;
  if (del) {
    const progress = options.progress ?? (() => {});
    try {
      await retryWithBackoff(del, {
        what: `CNI DEL of pod ${pod.id}`,
        timeoutMs: options.timeoutMs ?? 60_000,
        now: options.now,
        sleep: options.sleep,
        onRetry: (e, n, delay) =>
          progress(
            `CNI DEL of pod ${pod.id} failed (attempt ${n}), retrying in ${delay} ms: ${e instanceof Error ? e.message : String(e)}`,
          ),
      });
    } catch (cause) {
      throw new ClusterError(
        'CNI_FAILED',
        `${(cause as Error).message}; pod ${pod.id} stays in the cluster state with its address and attachment: run delete-pod again once the node agent answers (or gc ${pod.node})`,
        { cause },
      );
    }
  }
  await steps.removeNetns();
  await steps.forget();
}
