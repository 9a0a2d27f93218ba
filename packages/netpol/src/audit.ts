/**
 * Per-policy annotations that change how a policy is enforced and logged (not how it matches).
 *
 * - `podnet.io/enforcement: audit` (or `enforce`, the default): an audited NetworkPolicy or
 *   ClusterNetworkPolicy never changes a verdict. It isolates nothing and drops nothing; the
 *   flows it would have denied are logged as `would-drop`, naming it.
 * - `podnet.io/log-allowed: "true"` (or `"false"`, the default): the first packet of every flow
 *   one of the policy's rules accepts is logged as well.
 */

/** Annotation selecting enforcing (`enforce`, the default) or audit (`audit`) mode. */
export const ENFORCEMENT_ANNOTATION = 'podnet.io/enforcement';
/** Annotation opting a policy's accepted flows into verdict logging (`"true"`). */
export const LOG_ALLOWED_ANNOTATION = 'podnet.io/log-allowed';
/** The values {@link ENFORCEMENT_ANNOTATION} takes. */
export const ENFORCEMENT_MODES = ['enforce', 'audit'] as const;
/** How a policy is applied. */
export type EnforcementMode = (typeof ENFORCEMENT_MODES)[number];

interface Annotated {
  metadata?: { annotations?: Readonly<Record<string, string>> | null } | null;
}

function annotation(o: Annotated, key: string): unknown {
  const a = o?.metadata?.annotations;
  return a && typeof a === 'object' ? (a as Record<string, unknown>)[key] : undefined;
}

/** True when the policy is annotated `podnet.io/enforcement: audit`. */
export function isAudited(policy: Annotated): boolean {
  return annotation(policy, ENFORCEMENT_ANNOTATION) === 'audit';
}

/** True when the policy is annotated `podnet.io/log-allowed: "true"`. */
export function logsAllowed(policy: Annotated): boolean {
  return annotation(policy, LOG_ALLOWED_ANNOTATION) === 'true';
}

/**
 * Problems with the two annotations' values, as `[field path, message]` pairs (the path is
 * `metadata.annotations["podnet.io/enforcement"]`). Empty when both are absent or valid.
 */
export function annotationIssues(policy: unknown): [string, string][] {
  const out: [string, string][] = [];
  const o = policy as Annotated;
  const check = (key: string, allowed: readonly string[]) => {
    const v = annotation(o, key);
    if (v === undefined || (typeof v === 'string' && allowed.includes(v))) return;
    out.push([
      `metadata.annotations[${JSON.stringify(key)}]`,
      `want one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(v)}`,
    ]);
  };
  check(ENFORCEMENT_ANNOTATION, ENFORCEMENT_MODES);
  check(LOG_ALLOWED_ANNOTATION, ['true', 'false']);
  return out;
}
