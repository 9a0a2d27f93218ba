import type { K8sPod } from './types.js';
import { normalizeName } from './zone.js';

/** A pod that asks the server, as known from its address. */
export interface DnsClient {
  /** The address the query came from. */
  ip: string;
  namespace: string;
  name: string;
  /**
   * The pod's resolv.conf search list, in order (`<ns>.svc.<zone> svc.<zone> <zone>` then the
   * node's search domains), or null when it is not known (a pod with `dnsConfig` or a DNS policy
   * other than `ClusterFirst`): such a pod is never autopathed.
   */
  search: readonly string[] | null;
}

/**
 * The search list the node agent gives a `ClusterFirst` pod of `namespace`: the cluster's three
 * domains, then `nodeSearch` (the node's own search domains, if the agent passes any) without
 * duplicates, all lower case without the trailing dot. Pure.
 */
export function podSearchList(
  namespace: string,
  zone: string,
  nodeSearch: readonly string[] = [],
): string[] {
  const z = normalizeName(zone);
  const out = [`${namespace}.svc.${z}`, `svc.${z}`, z];
  for (const raw of nodeSearch) {
    const d = normalizeName(raw);
    if (d !== '' && !out.includes(d)) out.push(d);
  }
  return out;
}

/**
 * Indexes pods by address: the answer to "which pod asks, and with which search list". Built from
 * the same Pod objects the zone is built from; host-network pods (their address is the node's) and
 * pods without an address are left out. Pods whose resolv.conf the agent does not write alone
 * (`dnsPolicy` other than `ClusterFirst`, or any `dnsConfig`) are kept with an unknown search list.
 */
export class DnsClientIndex {
  private readonly byIp = new Map<string, DnsClient>();
  /** The addresses indexed for each pod (`namespace/name`), for patches. */
  private readonly byPod = new Map<string, string[]>();
  /** One search list per namespace, shared by its pods. */
  private readonly lists = new Map<string, readonly string[]>();

  constructor(
    private readonly zone: string,
    private readonly nodeSearch: readonly string[] = [],
  ) {}

  /** Number of addresses indexed. */
  get size(): number {
    return this.byIp.size;
  }

  /** Replaces the index with `pods`. */
  reset(pods: Iterable<K8sPod>): void {
    this.byIp.clear();
    this.byPod.clear();
    this.lists.clear();
    for (const pod of pods) this.add(pod);
  }

  /**
   * Re-reads the pods `keys` (`namespace/name`) through `get` (undefined: the pod is gone): the
   * work is the pods named, not all pods.
   */
  patch(keys: Iterable<string>, get: (key: string) => K8sPod | undefined): void {
    for (const key of keys) {
      for (const ip of this.byPod.get(key) ?? []) {
        const c = this.byIp.get(ip);
        if (c && `${c.namespace}/${c.name}` === key) this.byIp.delete(ip);
      }
      this.byPod.delete(key);
      const pod = get(key);
      if (pod) this.add(pod);
    }
  }

  /** The pod at `ip`, or undefined. */
  get(ip: string): DnsClient | undefined {
    return this.byIp.get(ip);
  }

  private add(pod: K8sPod): void {
    const ns = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    if (pod.spec?.hostNetwork) return;
    const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
    const known = policy === 'ClusterFirst' && pod.spec?.dnsConfig === undefined;
    let search: readonly string[] | null = null;
    if (known) {
      search = this.lists.get(ns) ?? null;
      if (search === null) {
        search = podSearchList(ns, this.zone, this.nodeSearch);
        this.lists.set(ns, search);
      }
    }
    const ips = new Set<string>();
    if (pod.status?.podIP) ips.add(pod.status.podIP);
    for (const p of pod.status?.podIPs ?? []) if (p?.ip) ips.add(p.ip);
    for (const ip of ips) this.byIp.set(ip, { ip, namespace: ns, name, search });
    if (ips.size > 0) this.byPod.set(`${ns}/${name}`, [...ips]);
  }
}

/**
 * The names autopath tries for a query, in order, after the asked name itself: when `asked` is
 * `<base>.<search[0]>` (the first expansion of `<base>`), the other expansions `<base>.<search[i]>`
 * then `<base>` itself; otherwise null (the query is not a first expansion, and is answered as
 * asked). `asked` keeps its case (the names tried keep the asker's spelling of `base`); the match
 * is case-insensitive. Pure.
 */
export function autopathCandidates(asked: string, search: readonly string[]): string[] | null {
  const first = search[0];
  if (first === undefined) return null;
  const name = asked.endsWith('.') ? asked.slice(0, -1) : asked;
  if (name.length <= first.length + 1) return null;
  const cut = name.length - first.length;
  if (name.charCodeAt(cut - 1) !== 0x2e || name.slice(cut).toLowerCase() !== first) return null;
  const base = name.slice(0, cut - 1);
  return [...search.slice(1).map((s) => `${base}.${s}`), base];
}

/**
 * Decodes the sender address of the native UDP path (a `sockaddr_in` or `sockaddr_in6` in host
 * byte order for the family, network order for port and address) to its text form; IPv4-mapped
 * IPv6 addresses come back as IPv4. Undefined for another family.
 */
export function sockaddrIp(peer: Uint8Array): string | undefined {
  const family = (peer[0] as number) | ((peer[1] as number) << 8);
  if (family === 2) return `${peer[4]}.${peer[5]}.${peer[6]}.${peer[7]}`;
  if (family !== 10) return undefined;
  const b = peer.subarray(8, 24);
  let mapped = true;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) mapped = false;
  if (mapped && b[10] === 0xff && b[11] === 0xff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((b[i] as number) << 8) | (b[i + 1] as number)).toString(16));
  return compressV6(groups);
}

/** RFC 5952 text of eight hex groups (the longest run of two or more zero groups becomes `::`). */
function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Strips the IPv4-mapped prefix node's sockets put on IPv4 peers of a dual-stack socket. */
export function plainIp(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
