import {
  CNI_ERROR_CODES,
  CniError,
  type CniResult,
  type GcContext,
  type PluginContext,
  type PluginHandlers,
} from '@podnet/cni-spec';
import { type BatchLine, type Host, HostError, isIp, renderBatch } from '@podnet/host';
import { type Allocator, cniCodeFor, IpamError } from '@podnet/ipam';
import { existsSync } from 'node:fs';
import type { AttachmentRecord, AttachmentStore } from './attachments.js';
import type { Logger } from './log.js';
import { KeyedMutex, RwLock } from './locks.js';
import {
  dnsSearch,
  type HostPortMapping,
  HOST_VETH_MAC,
  hostVethName,
  type PodAddress,
  planPodLinks,
  planPodVeth,
  podMac,
} from './plan.js';

/** The node's pod network once its pod CIDRs are known. */
export interface PodNetwork {
  readonly podCidrs: readonly string[];
  readonly allocator: Allocator;
  readonly mtu: number;
}

/** What the CNI service needs from the agent. */
export interface CniServiceDeps {
  /** `ip`/`nft` in the node namespace. */
  readonly host: Host;
  readonly attachments: AttachmentStore;
  readonly log: Logger;
  readonly dns: { readonly ip: string; readonly clusterDomain: string };
  /** The pod network, or undefined while the node has no pod CIDR yet (ADD answers code 11). */
  network(): PodNetwork | undefined;
  /** Why there is no pod network yet (what to configure), for the error ADD and STATUS answer. */
  networkPending?(): string | undefined;
  /** Called after host ports changed (re-renders the agent's nftables table). */
  hostPortsChanged(): Promise<void>;
  /** A PID in the node namespace (`ip link ... netns PID`); default: this process. */
  readonly nodePid?: number;
  /**
   * Runs the node-namespace `ip` lines of ADD and DEL, e.g. a long-lived `IpSession` so a pod
   * does not pay an `ip` process start for its host side; default: `host.ipBatch`.
   */
  readonly nodeIp?: IpBatcher;
  /**
   * Starts an `ip` in the named pod namespace at the beginning of an ADD (e.g.
   * `new IpSession({ netns: { name } }).start()`), so its process start overlaps IPAM and the
   * node side. Used together with `nodeIp`; without it the pod side is one `ip -n NAME -batch`.
   */
  readonly podIp?: (netnsName: string) => IpBatcher & { close(): void };
}

/** What runs `ip` batch lines for the CNI service (an `IpSession`, or `Host.ipBatch`). */
export interface IpBatcher {
  batch(lines: readonly BatchLine[]): Promise<void>;
}

const NAMED_NETNS = /^\/(?:var\/)?run\/netns\/([A-Za-z0-9_][A-Za-z0-9_.-]*)$/;

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

/** Parses the `portMappings` runtime config into host-port mappings for the pod's addresses. */
export function parsePortMappings(
  raw: unknown,
  addresses: readonly PodAddress[],
): HostPortMapping[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    throw new CniError(
      CNI_ERROR_CODES.INVALID_NETWORK_CONFIG,
      'runtimeConfig.portMappings: want an array',
    );
  }
  const out: HostPortMapping[] = [];
  raw.forEach((m: unknown, i) => {
    const p = `runtimeConfig.portMappings[${i}]`;
    const o = m as Record<string, unknown>;
    const port = (v: unknown, f: string) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
        throw new CniError(
          CNI_ERROR_CODES.INVALID_NETWORK_CONFIG,
          `${p}.${f}: want a port 1-65535`,
        );
      }
      return v;
    };
    if (typeof m !== 'object' || m === null) {
      throw new CniError(CNI_ERROR_CODES.INVALID_NETWORK_CONFIG, `${p}: want an object`);
    }
    const protocol = String(o.protocol ?? 'tcp').toLowerCase();
    if (!PROTOCOLS.has(protocol)) {
      throw new CniError(
        CNI_ERROR_CODES.INVALID_NETWORK_CONFIG,
        `${p}.protocol: want tcp, udp or sctp`,
      );
    }
    const hostIP = o.hostIP === undefined || o.hostIP === '' ? undefined : o.hostIP;
    if (hostIP !== undefined && !isIp(hostIP)) {
      throw new CniError(CNI_ERROR_CODES.INVALID_NETWORK_CONFIG, `${p}.hostIP: want an IP address`);
    }
    const hostPort = port(o.hostPort, 'hostPort');
    const containerPort = port(o.containerPort, 'containerPort');
    for (const a of addresses) {
      if (
        hostIP !== undefined &&
        hostIP !== '0.0.0.0' &&
        hostIP !== '::' &&
        hostIP.includes(':') !== (a.family === 6)
      ) {
        continue;
      }
      out.push({
        hostPort,
        containerPort,
        protocol: protocol as HostPortMapping['protocol'],
        podIp: a.ip,
        ...(hostIP === undefined ? {} : { hostIP }),
      });
    }
  });
  return out;
}

function familyOf(ip: string): 4 | 6 {
  return ip.includes(':') ? 6 : 4;
}

function isMissingDevice(e: unknown): boolean {
  return (
    HostError.isInstance(e) &&
    /Cannot find device|does not exist|No such device/i.test(e.stderr ?? e.message)
  );
}

/** Renders the result of an attachment record (1.1.0 shape; the skeleton converts it). */
export function attachmentResult(rec: AttachmentRecord, dns: CniServiceDeps['dns']): CniResult {
  const v4 = rec.addresses.find((a) => a.family === 4);
  const v6 = rec.addresses.find((a) => a.family === 6);
  return {
    cniVersion: '1.1.0',
    interfaces: [
      { name: rec.hostIf, mac: HOST_VETH_MAC },
      { name: rec.ifName, mac: rec.podMac, mtu: rec.mtu, sandbox: rec.netns },
    ],
    ips: rec.addresses.map((a) => ({
      address: a.address,
      gateway: a.family === 4 ? a.gateway : 'fe80::1',
      interface: 1,
    })),
    routes: [
      ...(v4 ? [{ dst: '0.0.0.0/0', gw: v4.gateway }] : []),
      ...(v6 ? [{ dst: '::/0', gw: 'fe80::1' }] : []),
    ],
    dns: {
      nameservers: [dns.ip],
      search: dnsSearch(rec.podNamespace, dns.clusterDomain),
      options: ['ndots:5'],
    },
  };
}

/** Counters per CNI command and outcome, plus latency sums (exported as metrics). */
export interface CniStats {
  readonly requests: Map<string, number>;
  readonly durations: Map<string, { count: number; sum: number; buckets: number[] }>;
}

/** Latency histogram bucket bounds in seconds. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The agent's CNI operations, as `@podnet/cni-spec` plugin handlers: ADD wires a routed veth and
 * reserves addresses from `@podnet/ipam`; DEL is idempotent (missing namespace, missing links);
 * CHECK compares kernel state with the record; STATUS reports readiness; GC releases every
 * attachment the runtime no longer lists and sweeps orphaned host veths.
 */
export class CniService {
  readonly stats: CniStats = { requests: new Map(), durations: new Map() };
  private readonly gcLock = new RwLock();
  private readonly perAttachment = new KeyedMutex();

  constructor(private readonly deps: CniServiceDeps) {}

  /** Records one finished request (the server calls it). */
  record(command: string, ok: boolean, seconds: number): void {
    const k = `${command}|${ok ? 'success' : 'error'}`;
    this.stats.requests.set(k, (this.stats.requests.get(k) ?? 0) + 1);
    let d = this.stats.durations.get(command);
    if (!d)
      this.stats.durations.set(
        command,
        (d = { count: 0, sum: 0, buckets: LATENCY_BUCKETS.map(() => 0) }),
      );
    d.count++;
    d.sum += seconds;
    LATENCY_BUCKETS.forEach((b, i) => {
      if (seconds <= b) d!.buckets[i]!++;
    });
  }

  /** The handlers to give `handleInvocation`. */
  handlers(): PluginHandlers {
    return {
      add: (ctx) =>
        this.gcLock.shared(() => this.perAttachment.run(this.key(ctx), () => this.add(ctx))),
      del: (ctx) =>
        this.gcLock.shared(() => this.perAttachment.run(this.key(ctx), () => this.del(ctx))),
      check: (ctx) =>
        this.gcLock.shared(() => this.perAttachment.run(this.key(ctx), () => this.check(ctx))),
      status: () => this.status(),
      gc: (ctx) => this.gcLock.exclusive(() => this.gc(ctx)),
    };
  }

  private key(ctx: PluginContext): string {
    return `${ctx.containerId}/${ctx.ifName}`;
  }

  private requireNetwork(): PodNetwork {
    const net = this.deps.network();
    if (!net) {
      throw new CniError(
        CNI_ERROR_CODES.TRY_AGAIN_LATER,
        'podnet: this node has no pod CIDR yet, try again later',
        { details: this.deps.networkPending?.() },
      );
    }
    return net;
  }

  private status(): void {
    if (!this.deps.network()) {
      throw new CniError(
        CNI_ERROR_CODES.PLUGIN_NOT_AVAILABLE,
        'podnet: this node has no pod CIDR yet',
        { details: this.deps.networkPending?.() },
      );
    }
  }

  private async add(ctx: PluginContext): Promise<CniResult> {
    const net = this.requireNetwork();
    if (!existsSync(ctx.netns)) {
      throw new CniError(
        CNI_ERROR_CODES.INVALID_ENVIRONMENT,
        `CNI_NETNS ${ctx.netns} does not exist`,
      );
    }
    const named = NAMED_NETNS.exec(ctx.netns)?.[1];
    const podIp = named && this.deps.nodeIp && this.deps.podIp ? this.deps.podIp(named) : undefined;
    try {
      return await this.addWith(ctx, net, named, podIp);
    } finally {
      podIp?.close();
    }
  }

  private async addWith(
    ctx: PluginContext,
    net: PodNetwork,
    named: string | undefined,
    podIp: IpBatcher | undefined,
  ): Promise<CniResult> {
    const hostIf = hostVethName(ctx.containerId, ctx.ifName);
    const requested = ipsFromRuntimeConfig(ctx.config.runtimeConfig?.ips);
    let allocated: Awaited<ReturnType<Allocator['allocate']>>;
    const t0 = performance.now();
    // with a named pod namespace the node side creates the veth while IPAM allocates
    const veth =
      podIp && named
        ? this.nodeBatch([
            planPodVeth({ ifName: ctx.ifName, hostIf, mtu: net.mtu, podNetnsName: named }),
          ])
        : undefined;
    veth?.catch(() => {});
    try {
      allocated = await net.allocator.allocate(ctx.containerId, ctx.ifName, {
        requestedIps: requested,
      });
    } catch (e) {
      if (veth) {
        await veth.catch(() => {});
        await this.deleteHostLink(hostIf).catch(() => {});
      }
      throw ipamToCni(e);
    }
    const tIpam = performance.now();
    const addresses: PodAddress[] = allocated.map((a) => ({
      address: a.address,
      ip: a.ip,
      gateway: a.gateway ?? a.ip,
      family: familyOf(a.ip),
    }));
    const podNamespace = ctx.args.K8S_POD_NAMESPACE;
    const podName = ctx.args.K8S_POD_NAME;
    const rec: AttachmentRecord = {
      containerId: ctx.containerId,
      ifName: ctx.ifName,
      netns: ctx.netns,
      hostIf,
      podMac: podMac(addresses, ctx.containerId),
      mtu: net.mtu,
      addresses,
      hostPorts: [],
      ...(podNamespace ? { podNamespace } : {}),
      ...(podName ? { podName } : {}),
      phase: 'pending',
    };
    try {
      const hostPorts = parsePortMappings(ctx.config.runtimeConfig?.portMappings, addresses);
      this.deps.attachments.put({ ...rec, hostPorts });
      const plan = planPodLinks({
        ifName: ctx.ifName,
        hostIf,
        podMac: rec.podMac,
        mtu: rec.mtu,
        addresses,
        nodePid: this.deps.nodePid ?? process.pid,
        ...(podIp ? { podNetnsName: named } : {}),
      });
      const tPlan = performance.now();
      let steps: Record<string, number>;
      if (veth && podIp && plan.order === 'node-first') {
        await veth;
        const tVeth = performance.now();
        await Promise.all([this.nodeBatch(plan.node), podIp.batch(plan.pod)]);
        steps = { vethWait: round(tVeth - tPlan), links: round(performance.now() - tVeth) };
      } else {
        await this.podBatch(ctx.netns, plan.pod);
        const tPod = performance.now();
        await this.nodeBatch(plan.node);
        steps = { podLinks: round(tPod - tPlan), nodeLinks: round(performance.now() - tPod) };
      }
      const ready: AttachmentRecord = { ...rec, hostPorts, phase: 'ready' };
      this.deps.attachments.put(ready);
      if (hostPorts.length > 0) await this.deps.hostPortsChanged();
      this.deps.log.info('pod attached', {
        containerId: ctx.containerId,
        ifName: ctx.ifName,
        pod: podName ? `${podNamespace ?? ''}/${podName}` : undefined,
        ips: addresses.map((a) => a.ip),
        hostIf,
        ms: {
          ipam: round(tIpam - t0),
          record: round(tPlan - tIpam),
          ...steps,
          total: round(performance.now() - t0),
        },
      });
      return attachmentResult(ready, this.deps.dns);
    } catch (e) {
      this.deps.log.warn('ADD failed; undoing', { containerId: ctx.containerId, error: String(e) });
      await this.teardown(ctx.containerId, ctx.ifName, hostIf).catch(() => {});
      if (CniError.isInstance(e)) throw e;
      throw new CniError(CNI_ERROR_CODES.INTERNAL, 'podnet: wiring the pod interface failed', {
        details: (e as Error).message,
        cause: e,
      });
    }
  }

  /** Deletes a pod's host veth (and so its pod end); a link already gone is fine. */
  private async deleteHostLink(hostIf: string): Promise<void> {
    try {
      if (this.deps.nodeIp) await this.deps.nodeIp.batch([['link', 'del', hostIf]]);
      else await this.deps.host.ip(['link', 'del', hostIf]);
    } catch (e) {
      if (!isMissingDevice(e)) throw e;
    }
  }

  private nodeBatch(lines: readonly BatchLine[]): Promise<void> {
    return this.deps.nodeIp ? this.deps.nodeIp.batch(lines) : this.deps.host.ipBatch(lines);
  }

  /** Runs a batch in the pod namespace: `ip -n NAME` when it is a named namespace, else nsenter. */
  private async podBatch(netns: string, lines: BatchLine[]): Promise<void> {
    const named = NAMED_NETNS.exec(netns);
    if (named) {
      await this.deps.host.exec('ip', ['-n', named[1]!, '-batch', '-'], renderBatch(lines));
      return;
    }
    await this.deps.host.inNetns({ path: netns }).ipBatch(lines);
  }

  private async teardown(containerId: string, ifName: string, hostIf: string): Promise<boolean> {
    const rec = this.deps.attachments.get(containerId, ifName);
    const net = this.deps.network();
    // an attachment whose address cannot be released yet (the agent is still starting): say so
    // (code 11, the runtime retries) instead of forgetting the attachment and leaking its address;
    // with no attachment there is nothing of ours to keep (an ADD needs the network)
    if (!net && rec) this.requireNetwork();
    await this.deleteHostLink(hostIf);
    if (net) await net.allocator.release(containerId, ifName);
    this.deps.attachments.delete(containerId, ifName);
    const hadPorts = (rec?.hostPorts.length ?? 0) > 0;
    if (hadPorts) await this.deps.hostPortsChanged();
    return rec !== undefined;
  }

  private async del(ctx: PluginContext): Promise<void> {
    const existed = await this.teardown(
      ctx.containerId,
      ctx.ifName,
      hostVethName(ctx.containerId, ctx.ifName),
    );
    if (existed)
      this.deps.log.info('pod detached', { containerId: ctx.containerId, ifName: ctx.ifName });
  }

  private async check(ctx: PluginContext): Promise<void> {
    const net = this.requireNetwork();
    const rec = this.deps.attachments.get(ctx.containerId, ctx.ifName);
    if (rec?.phase !== 'ready') {
      throw new CniError(
        CNI_ERROR_CODES.UNKNOWN_CONTAINER,
        `podnet: no attachment for ${ctx.containerId}/${ctx.ifName}`,
      );
    }
    const held = (await net.allocator.get(ctx.containerId, ctx.ifName)).map((a) => a.ip).sort();
    const want = rec.addresses.map((a) => a.ip).sort();
    if (JSON.stringify(held) !== JSON.stringify(want)) {
      throw new CniError(
        CNI_ERROR_CODES.INTERNAL,
        'podnet: IPAM does not hold the attachment addresses',
        {
          details: `IPAM has ${held.join(',') || 'nothing'}, the attachment ${want.join(',')}`,
        },
      );
    }
    const prev = ctx.config.prevResult?.ips?.map((i) => i.address.split('/')[0]!).sort();
    if (prev && prev.length > 0 && JSON.stringify(prev) !== JSON.stringify(want)) {
      throw new CniError(
        CNI_ERROR_CODES.INTERNAL,
        'podnet: prevResult addresses differ from the attachment',
      );
    }
    const hostLinks = await this.deps.host
      .ipJson<{ operstate?: string; flags?: string[] }[]>(['link', 'show', 'dev', rec.hostIf])
      .catch(() => []);
    if (hostLinks.length === 0 || !hostLinks[0]!.flags?.includes('UP')) {
      throw new CniError(
        CNI_ERROR_CODES.INTERNAL,
        `podnet: host interface ${rec.hostIf} is missing or down`,
      );
    }
    const podAddrs = await this.deps.host
      .inNetns({ path: ctx.netns })
      .ipJson<{ addr_info?: { local: string }[] }[]>(['addr', 'show', 'dev', ctx.ifName])
      .catch(() => []);
    const have = new Set((podAddrs[0]?.addr_info ?? []).map((a) => a.local));
    const missing = want.filter((ip) => !have.has(ip));
    if (podAddrs.length === 0 || missing.length > 0) {
      throw new CniError(
        CNI_ERROR_CODES.INTERNAL,
        `podnet: ${ctx.ifName} in ${ctx.netns} lacks ${missing.join(',') || 'its addresses'}`,
      );
    }
    const routes = await this.deps.host
      .ipJson<{ dst: string; dev?: string }[]>(['route', 'show', 'dev', rec.hostIf])
      .catch(() => []);
    for (const a of rec.addresses.filter((x) => x.family === 4)) {
      if (!routes.some((r) => r.dst === a.ip || r.dst === `${a.ip}/32`)) {
        throw new CniError(
          CNI_ERROR_CODES.INTERNAL,
          `podnet: the node has no route to ${a.ip} via ${rec.hostIf}`,
        );
      }
    }
  }

  private async gc(ctx: GcContext): Promise<void> {
    const valid = new Set(ctx.validAttachments.map((a) => `${a.containerID}/${a.ifname}`));
    const errors: string[] = [];
    let released = 0;
    for (const rec of this.deps.attachments.list()) {
      if (valid.has(`${rec.containerId}/${rec.ifName}`)) continue;
      try {
        await this.teardown(rec.containerId, rec.ifName, rec.hostIf);
        released++;
      } catch (e) {
        errors.push(`${rec.containerId}/${rec.ifName}: ${(e as Error).message}`);
      }
    }
    const net = this.deps.network();
    if (net) {
      try {
        const r = await net.allocator.gc(
          ctx.validAttachments.map((a) => ({ containerId: a.containerID, ifName: a.ifname })),
        );
        released += r.released.length;
      } catch (e) {
        errors.push(`ipam: ${(e as Error).message}`);
      }
    }
    const keepIfs = new Set(this.deps.attachments.list().map((r) => r.hostIf));
    try {
      const links = await this.deps.host.ipJson<{ ifname: string }[]>([
        'link',
        'show',
        'type',
        'veth',
      ]);
      for (const l of links) {
        if (!/^pn[0-9a-f]{11}$/.test(l.ifname) || keepIfs.has(l.ifname)) continue;
        try {
          await this.deps.host.ip(['link', 'del', l.ifname]);
          released++;
        } catch (e) {
          if (!isMissingDevice(e)) errors.push(`${l.ifname}: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      errors.push(`listing veths: ${(e as Error).message}`);
    }
    this.deps.log.info('gc done', { valid: valid.size, released, errors: errors.length });
    if (errors.length > 0) {
      throw new CniError(CNI_ERROR_CODES.INTERNAL, 'podnet: GC finished with errors', {
        details: errors.join('; '),
      });
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function ipsFromRuntimeConfig(raw: unknown): string[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw) || raw.some((x) => typeof x !== 'string')) {
    throw new CniError(
      CNI_ERROR_CODES.INVALID_NETWORK_CONFIG,
      'runtimeConfig.ips: want an array of addresses',
    );
  }
  return raw as string[];
}

function ipamToCni(e: unknown): CniError {
  if (CniError.isInstance(e)) return e;
  if (IpamError.isInstance(e)) {
    return new CniError(cniCodeFor(e), `podnet: ${e.message}`, { cause: e });
  }
  return new CniError(CNI_ERROR_CODES.INTERNAL, `podnet: ${(e as Error).message}`, { cause: e });
}
