import { DnsError } from './errors.js';

/**
 * Limits of DNS over TCP (RFC 7766), per server and per connection. Every field is optional;
 * {@link tcpLimits} fills in the defaults.
 */
export interface DnsTcpOptions {
  /**
   * Most open connections; default 1000. When a new connection would exceed it, the connection
   * idle the longest is closed to make room (then the one stalled the longest: a query that has
   * not finished arriving, or answers the client does not read); the new one is refused only when
   * every connection is busy being answered.
   */
  maxConnections?: number;
  /**
   * Most open connections from one source address; default 100. At the limit the source's own
   * longest-idle (then longest-stalled) connection is closed for the new one, else the new one is
   * refused. IPv6 sources count per address (pods of a node share a /64).
   */
  maxConnectionsPerSource?: number;
  /**
   * A connection with no query arriving, none being answered and no answer waiting to be sent
   * is closed after this many ms; default 10,000 (knotd's `tcp-idle-timeout`).
   */
  idleTimeoutMs?: number;
  /**
   * A query's 2-byte length and body must all arrive within this many ms of its first byte (the
   * clock is not restarted by each byte), and answers waiting for a client that does not read
   * must make progress into the kernel within this many ms; otherwise the connection is closed.
   * Default 2,000 (knotd's `tcp-io-timeout` is 500 ms, meant for public servers; a pod network
   * that drops a segment needs a retransmission or two).
   */
  messageTimeoutMs?: number;
  /**
   * Answer bytes a connection may leave waiting in the server (beyond the kernel's socket
   * buffer); default 65,536. The server stops reading a connection's queries once `write()`
   * reports the kernel buffer full or this much is waiting, and resumes on `drain`. An answer
   * that becomes ready (after an upstream) while this much is waiting closes the connection, so
   * a connection holds at most this plus one answer (65,537 bytes).
   */
  maxBufferedBytes?: number;
  /**
   * Queries of one connection being answered at once (answers that wait for an upstream); default
   * 32. At the limit the server stops reading the connection's queries until one is answered.
   */
  maxPendingQueries?: number;
}

/** {@link DnsTcpOptions} with every default filled in. */
export type DnsTcpLimits = Required<DnsTcpOptions>;

/** The defaults of {@link DnsTcpOptions}. */
export const DEFAULT_TCP_LIMITS: Readonly<DnsTcpLimits> = Object.freeze({
  maxConnections: 1000,
  maxConnectionsPerSource: 100,
  idleTimeoutMs: 10_000,
  messageTimeoutMs: 2_000,
  maxBufferedBytes: 65_536,
  maxPendingQueries: 32,
});

const RANGES: Record<keyof DnsTcpLimits, [number, number]> = {
  maxConnections: [1, 1_000_000],
  maxConnectionsPerSource: [1, 1_000_000],
  idleTimeoutMs: [1, 2_147_483_647],
  messageTimeoutMs: [1, 2_147_483_647],
  maxBufferedBytes: [1, 2 ** 31],
  maxPendingQueries: [1, 1_000_000],
};

/**
 * Validates TCP limits and fills in the defaults (pure). Throws `DnsError` `INVALID_ARGUMENT`
 * naming the field (`tcp.idleTimeoutMs`) for a value that is not an integer in range.
 */
export function tcpLimits(options: DnsTcpOptions = {}): DnsTcpLimits {
  const out = { ...DEFAULT_TCP_LIMITS };
  for (const key of Object.keys(RANGES) as (keyof DnsTcpLimits)[]) {
    const value = options[key];
    if (value === undefined) continue;
    const [min, max] = RANGES[key];
    if (!Number.isInteger(value) || value < min || value > max)
      throw new DnsError(
        'INVALID_ARGUMENT',
        `tcp.${key} must be an integer ${min}-${max}, got ${JSON.stringify(value)}`,
        { field: `tcp.${key}`, value },
      );
    out[key] = value;
  }
  return out;
}
