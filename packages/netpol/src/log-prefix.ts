import type { Direction } from './types.js';

/** What a verdict log record reports. */
export type LogVerdict = 'drop' | 'accept' | 'would-drop';

/** What a verdict log prefix says: who decided, and how. */
export interface LogPrefixInfo {
  /** `would-drop`: an audited policy would have denied the flow (it was let through). */
  verdict: LogVerdict;
  direction: Direction;
  /** `np` NetworkPolicy, `admin` / `baseline` ClusterNetworkPolicy tiers. */
  kind: 'np' | 'admin' | 'baseline';
  /** Policies named: `namespace/name` for NetworkPolicy, `name` for ClusterNetworkPolicy. */
  policies: string[];
  /** How many more policies were involved than fit into the prefix. */
  more: number;
  /** Rule index in `spec.ingress`/`spec.egress`; absent when no rule allowed an isolated pod. */
  rule?: number;
  /** A ClusterNetworkPolicy rule's name, when it fits. */
  ruleName?: string;
}

/** Kernel limit for an nftables log prefix (bytes, without the terminating NUL). */
export const LOG_PREFIX_MAX = 127;
const SAFE = /^[A-Za-z0-9_.-]+$/;

/**
 * Encodes a prefix such as `podnet:drop:in:np:x/deny-all:* ` or `podnet:would-drop:...` (policy list comma-separated,
 * `+N` when it had to be shortened; rule `*` when no rule matched, `2` or `2=name`).
 */
export function encodeLogPrefix(info: LogPrefixInfo): string {
  const dir = info.direction === 'ingress' ? 'in' : 'eg';
  let rule = info.rule === undefined ? '*' : String(info.rule);
  if (info.rule !== undefined && info.ruleName && SAFE.test(info.ruleName))
    rule += `=${info.ruleName}`;
  const head = `podnet:${info.verdict}:${dir}:${info.kind}:`;
  const build = (names: string[], more: number, r: string) =>
    `${head}${names.join(',')}${more > 0 ? `,+${more}` : ''}:${r} `;
  let names = [...info.policies];
  let more = info.more;
  let out = build(names, more, rule);
  while (out.length > LOG_PREFIX_MAX && names.length > 1) {
    names = names.slice(0, -1);
    more++;
    out = build(names, more, rule);
  }
  if (out.length > LOG_PREFIX_MAX && rule.includes('=')) {
    rule = rule.slice(0, rule.indexOf('='));
    out = build(names, more, rule);
  }
  if (out.length > LOG_PREFIX_MAX) {
    const room = LOG_PREFIX_MAX - build([''], more, rule).length;
    out = build([(names[0] ?? '').slice(0, Math.max(1, room))], more, rule);
  }
  return out;
}

const PREFIX_RE =
  /podnet:(drop|accept|would-drop):(in|eg):(np|admin|baseline):([^:\s]*):(\*|\d+(?:=[A-Za-z0-9_.-]+)?)/;

/** Decodes a prefix made by {@link encodeLogPrefix} (found anywhere in `text`). */
export function decodeLogPrefix(text: string): LogPrefixInfo | undefined {
  const m = PREFIX_RE.exec(text);
  if (!m) return undefined;
  const [, verdict, dir, kind, list, rule] = m;
  const policies: string[] = [];
  let more = 0;
  for (const item of (list ?? '').split(',')) {
    if (item === '') continue;
    if (/^\+\d+$/.test(item)) more = Number(item.slice(1));
    else policies.push(item);
  }
  const info: LogPrefixInfo = {
    verdict: verdict as LogVerdict,
    direction: dir === 'in' ? 'ingress' : 'egress',
    kind: kind as LogPrefixInfo['kind'],
    policies,
    more,
  };
  if (rule && rule !== '*') {
    const [idx, name] = rule.split('=');
    info.rule = Number(idx);
    if (name) info.ruleName = name;
  }
  return info;
}
