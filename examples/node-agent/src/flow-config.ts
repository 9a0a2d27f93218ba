import { AgentError } from './errors.js';

/** The agent's flow records (`flows` in the config file). */
export interface FlowConfig {
  /** Read verdict logs and export flow records (default true). */
  readonly enabled?: boolean;
  /** NFLOG group the policy rules log to (default 100, netpol's default). */
  readonly nflogGroup?: number;
  /** Ring buffer size in records, 16 to 1 000 000 (default 4096). */
  readonly bufferSize?: number;
  /** Log the first packet of EVERY flow a policy rule allows (default false: per policy, by the
   * `podnet.io/log-allowed: "true"` annotation). */
  readonly logAllowed?: boolean;
  /** Fraction (0-1) of allowed-flow records kept (default 1). Drops are always kept. */
  readonly sampleAllowed?: number;
  /** Distinct policies with their own metric labels, 1 to 10 000 (default 100; then `other`). */
  readonly maxPolicyLabels?: number;
  /**
   * Node-wide limit on verdict log records, in the kernel (default
   * {@link DEFAULT_LOG_RATE_LIMIT}: 1000 records/s, bursts of 1000): a storm of denied packets
   * cannot flood the capture and slow allowed traffic. Packets over it keep their verdict and are
   * counted as `rate-limited` lost records. `false`: no limit.
   */
  readonly logRateLimit?: { readonly rate: number; readonly burst?: number } | false;
}

/** The default of `flows.logRateLimit`. */
export const DEFAULT_LOG_RATE_LIMIT = { rate: 1000, burst: 1000 } as const;

const KEYS = [
  'enabled',
  'nflogGroup',
  'bufferSize',
  'logAllowed',
  'sampleAllowed',
  'maxPolicyLabels',
  'logRateLimit',
] as const;

function fail(path: string, why: string): never {
  throw new AgentError('INVALID_CONFIG', `config.${path}: ${why}`, { path: `config.${path}` });
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(path, `want an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, `want true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Parses `flows` of the config file; every bad field is an `INVALID_CONFIG` naming it. */
export function parseFlowConfig(v: unknown): FlowConfig {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('flows', 'want an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!(KEYS as readonly string[]).includes(k)) fail(`flows.${k}`, 'unknown field');
  const out: { -readonly [K in keyof FlowConfig]: FlowConfig[K] } = {};
  if (o.enabled !== undefined) out.enabled = bool(o.enabled, 'flows.enabled');
  if (o.nflogGroup !== undefined) out.nflogGroup = int(o.nflogGroup, 'flows.nflogGroup', 0, 65535);
  if (o.bufferSize !== undefined)
    out.bufferSize = int(o.bufferSize, 'flows.bufferSize', 16, 1_000_000);
  if (o.logAllowed !== undefined) out.logAllowed = bool(o.logAllowed, 'flows.logAllowed');
  if (o.sampleAllowed !== undefined) {
    const s = o.sampleAllowed;
    if (typeof s !== 'number' || !(s >= 0 && s <= 1))
      fail('flows.sampleAllowed', `want a number from 0 to 1, got ${JSON.stringify(s)}`);
    out.sampleAllowed = s;
  }
  if (o.maxPolicyLabels !== undefined)
    out.maxPolicyLabels = int(o.maxPolicyLabels, 'flows.maxPolicyLabels', 1, 10_000);
  if (o.logRateLimit !== undefined) out.logRateLimit = logRateLimit(o.logRateLimit);
  return out;
}

function logRateLimit(v: unknown): FlowConfig['logRateLimit'] {
  const path = 'flows.logRateLimit';
  if (v === false) return false;
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    fail(path, `want { rate, burst? } or false, got ${JSON.stringify(v)}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'rate' && k !== 'burst') fail(`${path}.${k}`, 'unknown field');
  if (o.rate === undefined) fail(`${path}.rate`, 'required');
  const rate = int(o.rate, `${path}.rate`, 1, 1_000_000);
  return o.burst === undefined
    ? { rate }
    : { rate, burst: int(o.burst, `${path}.burst`, 1, 1_000_000) };
}
