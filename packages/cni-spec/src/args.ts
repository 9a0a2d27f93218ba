import { CNI_ERROR_CODES, CniError } from './errors.js';

/** Options for {@link parseCniArgs}. */
export interface ParseCniArgsOptions {
  /**
   * Keys the plugin understands. When given, any other key is an error (code 4) unless the
   * arguments carry `IgnoreUnknown=1` (or `true`).
   */
  known?: readonly string[];
}

/** True when a `CNI_ARGS` value means "yes" (`1`, `true`, `True`, `TRUE`). */
export function isTruthyArg(v: string | undefined): boolean {
  return v !== undefined && /^(1|true)$/i.test(v);
}

/**
 * Parses `CNI_ARGS` (`K=V;K=V`) into a record. Empty segments are skipped, a value may contain
 * `=`, the last duplicate wins. Throws {@link CniError} code 4 for a pair without `=` or with an
 * empty key, and for unknown keys when `known` is given and `IgnoreUnknown` is not set.
 */
export function parseCniArgs(
  raw: string | undefined,
  options: ParseCniArgsOptions = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const pair of raw.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new CniError(CNI_ERROR_CODES.INVALID_ENVIRONMENT, 'CNI_ARGS: invalid pair', {
        details: `${JSON.stringify(pair)} is not KEY=VALUE`,
      });
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  if (options.known && !isTruthyArg(out.IgnoreUnknown)) {
    const known = new Set([...options.known, 'IgnoreUnknown']);
    const unknown = Object.keys(out).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw new CniError(CNI_ERROR_CODES.INVALID_ENVIRONMENT, 'CNI_ARGS: unknown keys', {
        details: `${unknown.join(', ')} (set IgnoreUnknown=1 to ignore them)`,
      });
    }
  }
  return out;
}

/** Renders a record or pair list as `CNI_ARGS` (`K=V;K=V`); rejects `;` in keys or values. */
export function formatCniArgs(
  args: Record<string, string> | readonly (readonly [string, string])[],
): string {
  const pairs = Array.isArray(args) ? args : Object.entries(args as Record<string, string>);
  return pairs
    .map(([k, v]) => {
      if (!k || k.includes('=') || k.includes(';') || String(v).includes(';')) {
        throw new CniError(CNI_ERROR_CODES.INVALID_ENVIRONMENT, 'CNI_ARGS: invalid pair', {
          details: `${JSON.stringify(k)}=${JSON.stringify(v)}`,
        });
      }
      return `${k}=${v}`;
    })
    .join(';');
}
