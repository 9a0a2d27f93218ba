import ipaddr from 'ipaddr.js';
import { DnsError } from './errors.js';

/** An upstream resolver address. */
export interface Upstream {
  host: string;
  port: number;
}

/** The `nameserver` entries of resolv.conf text (port 53). */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const host = (m[1] as string).split('%')[0] as string;
    if (ipaddr.isValid(host)) out.push({ host: ipaddr.parse(host).toString(), port: 53 });
  }
  return out;
}

/** Parses `1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]:5353` into an {@link Upstream}. */
export function parseUpstream(value: string | Upstream, field = 'upstreams'): Upstream {
  if (typeof value === 'object' && value !== null) {
    if (
      !ipaddr.isValid(String(value.host)) ||
      !Number.isInteger(value.port) ||
      value.port < 1 ||
      value.port > 65535
    ) {
      throw new DnsError('INVALID_ARGUMENT', `${field} must be an IP address and a port 1-65535`, {
        field,
        value,
      });
    }
    return { host: ipaddr.parse(value.host).toString(), port: value.port };
  }
  const s = String(value);
  let host = s;
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1] as string;
    if (bracket[2]) port = Number(bracket[2]);
  } else if (/^[^:]+:\d+$/.test(s)) {
    const i = s.lastIndexOf(':');
    host = s.slice(0, i);
    port = Number(s.slice(i + 1));
  }
  if (!ipaddr.isValid(host) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DnsError(
      'INVALID_ARGUMENT',
      `${field} entry ${JSON.stringify(s)} must be IP, IP:port or [IPv6]:port`,
      { field, value },
    );
  }
  return { host: ipaddr.parse(host).toString(), port };
}
