import dgram from 'node:dgram';
import net from 'node:net';
import type { DnsRecord, K8sEndpointSlice, K8sService } from '../types.js';
import { decodeMessage, encodeMessage, typeCode } from '../wire.js';

/** A query seen by a {@link FakeUpstream}. */
export interface SeenQuery {
  name: string;
  type: string | number;
  transport: 'udp' | 'tcp';
}

/** A loopback DNS server answering from a fixed table, for forwarding tests. */
export interface FakeUpstream {
  host: string;
  port: number;
  /** `host:port`, ready for `upstreams`. */
  address: string;
  /** Every query received, in order. */
  readonly queries: SeenQuery[];
  stop(): Promise<void>;
}

/** Options of {@link startFakeUpstream}. */
export interface FakeUpstreamOptions {
  /** Records by lower-case owner name; a name absent here gets NXDOMAIN with `soa`. */
  records: Record<string, DnsRecord[]>;
  /** SOA for negative answers; default `example. 300 SOA ... minimum 60`. */
  soa?: DnsRecord;
  /** Answer UDP with TC set when the answer exceeds 512 bytes (default true). */
  truncate?: boolean;
  /** IPv4 address to listen on; default `127.0.0.1`. */
  host?: string;
}

/** Starts a {@link FakeUpstream} on `host` (UDP and TCP on one ephemeral port). */
export async function startFakeUpstream(options: FakeUpstreamOptions): Promise<FakeUpstream> {
  const queries: SeenQuery[] = [];
  const soa: DnsRecord = options.soa ?? {
    name: 'example',
    type: 'SOA',
    class: 'IN',
    ttl: 300,
    data: {
      mname: 'ns.example',
      rname: 'hostmaster.example',
      serial: 1,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 60,
    },
  };
  const answer = (msg: Uint8Array, transport: 'udp' | 'tcp'): Uint8Array | null => {
    let q: ReturnType<typeof decodeMessage>;
    try {
      q = decodeMessage(msg);
    } catch {
      return null;
    }
    const question = q.questions[0];
    if (!question) return null;
    queries.push({ name: question.name, type: question.type, transport });
    const owned = options.records[question.name.toLowerCase()];
    const answers = (owned ?? [])
      .filter((r) => typeCode(r.type as never) === typeCode(question.type as never))
      .map((r) => ({ ...r, name: question.name }));
    const base = {
      ...q,
      qr: true,
      ra: true,
      aa: false,
      tc: false,
      rcode: owned ? 0 : 3,
      answers,
      authorities: answers.length ? [] : [soa],
      additionals: [],
    };
    const full = encodeMessage(base);
    if (transport === 'udp' && options.truncate !== false && full.length > 512) {
      return encodeMessage({ ...base, tc: true, answers: [], authorities: [] });
    }
    return full;
  };
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const out = answer(msg, 'udp');
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((r) => udp.bind(0, host, () => r()));
  const port = (udp.address() as net.AddressInfo).port;
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const out = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)), 'tcp');
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        if (!out) continue;
        const len = Buffer.alloc(2);
        len.writeUInt16BE(out.length);
        sock.write(Buffer.concat([len, out]));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => resolve());
  });
  return {
    host,
    port,
    address: `${host}:${port}`,
    queries,
    stop: async () => {
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => tcp.close(() => r())),
      ]);
    },
  };
}

/** A ClusterIP Service object; `ports` as `name:port[/PROTO]` strings. */
export function clusterIpService(
  namespace: string,
  name: string,
  clusterIP: string | string[],
  ports: string[] = [],
): K8sService {
  const ips = Array.isArray(clusterIP) ? clusterIP : [clusterIP];
  return {
    kind: 'Service',
    metadata: { name, namespace },
    spec: { clusterIP: ips[0], clusterIPs: ips, ports: ports.map(parsePort) },
  };
}

/** A headless Service object (clusterIP None). */
export function headlessService(
  namespace: string,
  name: string,
  ports: string[] = [],
  publishNotReadyAddresses = false,
): K8sService {
  return {
    kind: 'Service',
    metadata: { name, namespace },
    spec: { clusterIP: 'None', ports: ports.map(parsePort), publishNotReadyAddresses },
  };
}

/** An EndpointSlice for a Service; endpoints as `{ ip, hostname?, ready? }`. */
export function endpointSlice(
  namespace: string,
  service: string,
  endpoints: { ip: string; hostname?: string; ready?: boolean }[],
  ports: string[] = [],
): K8sEndpointSlice {
  const v6 = endpoints.some((e) => e.ip.includes(':'));
  return {
    kind: 'EndpointSlice',
    metadata: {
      name: `${service}-slice`,
      namespace,
      labels: { 'kubernetes.io/service-name': service },
    },
    addressType: v6 ? 'IPv6' : 'IPv4',
    ports: ports.map(parsePort),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      hostname: e.hostname,
      conditions: { ready: e.ready ?? true },
    })),
  };
}

function parsePort(spec: string): { name: string; port: number; protocol: string } {
  const m = /^([a-z0-9-]+):(\d+)(?:\/(TCP|UDP|SCTP))?$/.exec(spec);
  if (!m)
    throw new Error(`port spec ${JSON.stringify(spec)} must look like name:port[/TCP|UDP|SCTP]`);
  return { name: m[1] as string, port: Number(m[2]), protocol: m[3] ?? 'TCP' };
}
