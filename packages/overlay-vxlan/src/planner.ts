import { isIfName, isMac } from '@podnet/host/validate';
import {
  type Family,
  canonicalIp,
  familyOf,
  isUnicastMac,
  type Net,
  NetSet,
  netContains,
  netsOverlap,
  parseNet,
} from './addr.js';
import { OverlayError } from './errors.js';
import { vtepMacFor } from './mac.js';
import {
  DEFAULT_ROUTE_PROTOCOL,
  DEFAULT_VNI,
  DEFAULT_VXLAN_PORT,
  type DesiredDevice,
  type DesiredPeer,
  type DirectRoutingMode,
  type FdbEntry,
  type LocalNode,
  type NeighbourEntry,
  type ObservedDevice,
  type ObservedOverlay,
  type OverlayEvent,
  type OverlayOperation,
  type OverlayPlan,
  type PeerNode,
  type RouteEntry,
} from './types.js';

const NODE_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

/** A {@link LocalNode} with every default filled in and every value checked and canonical. */
export interface ResolvedLocal {
  nodeName: string;
  uplink: string;
  nodeIPs: string[];
  podNets: Net[];
  vni: number;
  port: number;
  directRouting: DirectRoutingMode;
  underlayFamily: Family;
  underlayIP: string;
  deviceName: string;
  vtepMac: string;
  mtu?: number;
  routeProtocol: number;
}

function bad(field: string, value: unknown, why: string): never {
  throw new OverlayError('INVALID_LOCAL', `invalid ${field} ${JSON.stringify(value)}: ${why}`, {
    field,
    value,
  });
}

function intIn(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    bad(field, value, `want an integer from ${min} to ${max}`);
  }
  return value;
}

/** The device name used for a VNI when none is given: `podnet.<vni>`. */
export function defaultDeviceName(vni: number): string {
  return `podnet.${vni}`;
}

/** Checks a {@link LocalNode} and fills in defaults; throws `INVALID_LOCAL` naming the field. */
export function resolveLocal(local: LocalNode): ResolvedLocal {
  if (typeof local !== 'object' || local === null) bad('local', local, 'want an object');
  if (typeof local.nodeName !== 'string' || !NODE_NAME.test(local.nodeName)) {
    bad('local.nodeName', local.nodeName, 'want a Kubernetes node name (DNS subdomain)');
  }
  if (!isIfName(local.uplink)) {
    bad('local.uplink', local.uplink, 'want an interface name of 1-15 characters');
  }
  if (!Array.isArray(local.nodeIPs) || local.nodeIPs.length === 0) {
    bad('local.nodeIPs', local.nodeIPs, 'want at least one node IP');
  }
  const nodeIPs = local.nodeIPs.map(
    (ip, i) => canonicalIp(ip) ?? bad(`local.nodeIPs[${i}]`, ip, 'want an IP address'),
  );
  if (!Array.isArray(local.podCIDRs))
    bad('local.podCIDRs', local.podCIDRs, 'want an array of CIDRs');
  const podNets = local.podCIDRs.map(
    (c, i) => parseNet(c) ?? bad(`local.podCIDRs[${i}]`, c, 'want a CIDR'),
  );
  if (new Set(podNets.map((n) => n.family)).size !== podNets.length) {
    bad('local.podCIDRs', local.podCIDRs, 'want at most one CIDR per family');
  }
  const vni = intIn('local.vni', local.vni ?? DEFAULT_VNI, 1, 16_777_215);
  const port = intIn('local.port', local.port ?? DEFAULT_VXLAN_PORT, 1, 65_535);
  const directRouting = local.directRouting ?? 'auto';
  if (!['auto', 'always', 'never'].includes(directRouting)) {
    bad('local.directRouting', directRouting, 'want auto, always or never');
  }
  const underlayFamily = local.underlayFamily ?? familyOf(nodeIPs[0]!);
  if (underlayFamily !== 'ipv4' && underlayFamily !== 'ipv6') {
    bad('local.underlayFamily', underlayFamily, 'want ipv4 or ipv6');
  }
  const underlayIP =
    nodeIPs.find((ip) => familyOf(ip) === underlayFamily) ??
    bad(
      'local.nodeIPs',
      local.nodeIPs,
      `no ${underlayFamily} address for the ${underlayFamily} underlay`,
    );
  const deviceName = local.deviceName ?? defaultDeviceName(vni);
  if (!isIfName(deviceName))
    bad('local.deviceName', deviceName, 'want an interface name of 1-15 characters');
  if (deviceName === local.uplink)
    bad('local.deviceName', deviceName, 'must differ from local.uplink');
  const givenMac: unknown = local.vtepMac ?? vtepMacFor(local.nodeName);
  if (!isMac(givenMac) || !isUnicastMac(givenMac)) {
    bad('local.vtepMac', local.vtepMac, 'want a unicast MAC of six colon-separated hex octets');
  }
  const vtepMac = givenMac.toLowerCase();
  const mtu = local.mtu === undefined ? undefined : intIn('local.mtu', local.mtu, 1280, 65_535);
  const routeProtocol = intIn(
    'local.routeProtocol',
    local.routeProtocol ?? DEFAULT_ROUTE_PROTOCOL,
    5,
    255,
  );
  return {
    nodeName: local.nodeName,
    uplink: local.uplink,
    nodeIPs,
    podNets,
    vni,
    port,
    directRouting,
    underlayFamily,
    underlayIP,
    deviceName,
    vtepMac,
    mtu,
    routeProtocol,
  };
}

function gatewayOf(net: Net): string {
  return net.network;
}

function hostCidr(ip: string): string {
  return `${ip}/${familyOf(ip) === 'ipv4' ? 32 : 128}`;
}

/**
 * The bytes VXLAN encapsulation adds to a packet over an underlay of `family` (RFC 7348 §5):
 * the outer IP header (20 bytes IPv4, 40 IPv6), UDP (8), VXLAN (8) and the inner Ethernet
 * header (14): 50 over IPv4, 70 over IPv6. A pod or device MTU is the uplink's minus this.
 */
export function vxlanOverhead(family: Family): number {
  return family === 'ipv4' ? 50 : 70;
}

/**
 * The underlay family of a node with these node IPs when none is configured: the family of the
 * first one, as {@link resolveLocal} picks it (`ipv4` when there are none).
 */
export function underlayFamilyOf(nodeIPs: readonly string[]): Family {
  return nodeIPs[0] === undefined ? 'ipv4' : familyOf(nodeIPs[0]);
}

/** The device the overlay wants, given the local node and the uplink as observed. */
export function desiredDevice(local: ResolvedLocal, observed: ObservedOverlay): DesiredDevice {
  const uplink = observed.uplink;
  if (!uplink || uplink.ifname !== local.uplink) {
    throw new OverlayError('UPLINK_NOT_FOUND', `uplink ${local.uplink} not found on this node`, {
      field: 'local.uplink',
      value: local.uplink,
    });
  }
  const overhead = vxlanOverhead(local.underlayFamily);
  return {
    name: local.deviceName,
    vni: local.vni,
    port: local.port,
    local: local.underlayIP,
    uplink: local.uplink,
    mtu: local.mtu ?? uplink.mtu - overhead,
    mac: local.vtepMac,
    learning: false,
    addrs: local.podNets.map((n) => hostCidr(gatewayOf(n))),
  };
}

function skip(nodeName: string, message: string): OverlayEvent {
  return {
    type: 'Warning',
    reason: 'PeerSkipped',
    nodeName,
    message: `peer ${nodeName} skipped: ${message}`,
  };
}

/**
 * What accepted peers (and the local node) already hold: names, pod networks and VTEP MACs. A new
 * peer that collides with a claim is skipped. Kept across syncs by {@link OverlayReconciler}.
 */
export interface PeerClaims {
  nets: NetSet<string>;
  names: Set<string>;
  macs: Map<string, string>;
}

/** Claims holding only the local node's. */
export function newPeerClaims(local: ResolvedLocal): PeerClaims {
  const nets = new NetSet<string>();
  for (const net of local.podNets) nets.add(net, local.nodeName);
  return {
    nets,
    names: new Set([local.nodeName]),
    macs: new Map([[local.vtepMac, local.nodeName]]),
  };
}

/** Drops the claims of an accepted peer (its pod networks are its route destinations). */
export function releasePeerClaims(claims: PeerClaims, peer: DesiredPeer): void {
  claims.names.delete(peer.nodeName);
  for (const r of peer.routes) {
    const net = parseNet(r.dst);
    if (net) claims.nets.delete(net);
  }
  for (const f of peer.fdb) claims.macs.delete(f.mac);
}

/**
 * Desired entries for each valid peer, and an event for each peer (or pod CIDR) left out. The
 * local node, if it appears among the peers, is ignored without an event.
 */
export function desiredPeers(
  local: ResolvedLocal,
  peers: readonly PeerNode[],
  observed: ObservedOverlay,
  claims: PeerClaims = newPeerClaims(local),
): { peers: DesiredPeer[]; events: OverlayEvent[] } {
  const events: OverlayEvent[] = [];
  const out: DesiredPeer[] = [];
  const uplinkNets = (observed.uplink?.addrs ?? []).map(parseNet).filter((n): n is Net => !!n);
  const { nets: takenNets, names, macs } = claims;
  if (!Array.isArray(peers)) {
    throw new OverlayError('INVALID_PEER', 'peers must be an array', {
      field: 'peers',
      value: peers,
    });
  }
  peers.forEach((peer, index) => {
    const name =
      typeof peer?.nodeName === 'string' && NODE_NAME.test(peer.nodeName)
        ? peer.nodeName
        : `peers[${index}]`;
    if (name === `peers[${index}]`) {
      events.push(skip(name, `nodeName ${JSON.stringify(peer?.nodeName)} is not a node name`));
      return;
    }
    if (name === local.nodeName) return;
    if (names.has(name)) {
      events.push(skip(name, 'duplicate node name'));
      return;
    }
    if (!Array.isArray(peer.nodeIPs) || !Array.isArray(peer.podCIDRs)) {
      events.push(skip(name, 'nodeIPs and podCIDRs must be arrays'));
      return;
    }
    const ips: string[] = [];
    for (const ip of peer.nodeIPs) {
      const c = canonicalIp(ip);
      if (!c) {
        events.push(skip(name, `node IP ${JSON.stringify(ip)} is not an IP address`));
        return;
      }
      ips.push(c);
    }
    const nets: Net[] = [];
    for (const cidr of peer.podCIDRs) {
      const n = parseNet(cidr);
      if (!n) {
        events.push(skip(name, `pod CIDR ${JSON.stringify(cidr)} is not a CIDR`));
        return;
      }
      const clash =
        takenNets.overlapping(n) ??
        nets.map((net) => ({ net, value: name })).find((t) => netsOverlap(t.net, n));
      if (clash) {
        events.push(skip(name, `pod CIDR ${n.cidr} overlaps ${clash.net.cidr} of ${clash.value}`));
        return;
      }
      nets.push(n);
    }
    const givenMac: unknown = peer.vtepMac ?? vtepMacFor(name);
    if (!isMac(givenMac) || !isUnicastMac(givenMac)) {
      events.push(skip(name, `VTEP MAC ${JSON.stringify(peer.vtepMac)} is not a unicast MAC`));
      return;
    }
    const mac = givenMac.toLowerCase();
    const underlay = ips.find((ip) => familyOf(ip) === local.underlayFamily);
    const entry: DesiredPeer = {
      nodeName: name,
      mode: 'vxlan',
      neighbours: [],
      fdb: [],
      routes: [],
    };
    let direct = 0;
    for (const net of nets) {
      const peerIP = ips.find((ip) => familyOf(ip) === net.family);
      const onSubnet = !!peerIP && uplinkNets.some((u) => netContains(u, peerIP));
      const useDirect =
        !!peerIP &&
        (local.directRouting === 'always' || (local.directRouting === 'auto' && onSubnet));
      if (useDirect) {
        direct++;
        entry.routes.push({ dst: net.cidr, via: peerIP, dev: local.uplink, onlink: !onSubnet });
        continue;
      }
      if (!underlay) {
        events.push({
          type: 'Warning',
          reason: 'PodCIDRSkipped',
          nodeName: name,
          message: `pod CIDR ${net.cidr} of ${name} skipped: the peer has no ${local.underlayFamily} node IP for the VXLAN underlay`,
        });
        continue;
      }
      entry.neighbours.push({ dst: gatewayOf(net), mac });
      entry.routes.push({
        dst: net.cidr,
        via: gatewayOf(net),
        dev: local.deviceName,
        onlink: true,
      });
    }
    if (entry.neighbours.length > 0) {
      const owner = macs.get(mac);
      if (owner) {
        events.push(skip(name, `VTEP MAC ${mac} is already used by ${owner}`));
        return;
      }
      macs.set(mac, name);
      entry.fdb.push({ mac, dst: underlay! });
    }
    if (entry.routes.length === 0) {
      if (nets.length === 0) events.push(skip(name, 'it has no pod CIDR'));
      return;
    }
    entry.mode = direct === 0 ? 'vxlan' : entry.neighbours.length === 0 ? 'direct' : 'mixed';
    names.add(name);
    for (const net of nets) takenNets.add(net, name);
    out.push(entry);
  });
  return { peers: out, events };
}

/** Why an existing device cannot be adopted, or undefined when it can. */
export function deviceIncompatibility(
  want: DesiredDevice,
  have: ObservedDevice,
): string | undefined {
  if (have.kind !== 'vxlan') return `it is a ${have.kind || 'non-vxlan'} device`;
  if (have.vni !== want.vni) return `VNI ${have.vni} ≠ ${want.vni}`;
  if (have.port !== want.port) return `port ${have.port} ≠ ${want.port}`;
  if (have.local !== want.local) return `local address ${have.local ?? 'none'} ≠ ${want.local}`;
  if (have.link !== want.uplink)
    return `bound to ${have.link ?? 'no device'} instead of ${want.uplink}`;
  if (have.learning !== false) return 'learning is on';
  return undefined;
}

function routeKey(r: { dst: string }): string {
  return r.dst;
}

function sameRoute(a: RouteEntry, b: RouteEntry): boolean {
  return a.via === b.via && a.dev === b.dev && a.onlink === b.onlink;
}

/**
 * Plans the overlay: the desired device and per-peer entries, and the ordered operations that turn
 * `observed` into them. Pure and deterministic; an already-applied plan yields no operations.
 * Throws `INVALID_LOCAL` / `UPLINK_NOT_FOUND`; a bad peer is skipped with an event.
 */
export function planOverlay(
  local: LocalNode,
  peers: readonly PeerNode[],
  observed: ObservedOverlay,
): OverlayPlan {
  return planResolved(resolveLocal(local), peers, observed);
}

/**
 * {@link planOverlay} for an already resolved local node, checking peers against `claims` (which it
 * extends with the peers it accepts). `observed` may hold just the entries of the peers planned.
 */
export function planResolved(
  loc: ResolvedLocal,
  peers: readonly PeerNode[],
  observed: ObservedOverlay,
  claims?: PeerClaims,
): OverlayPlan {
  const device = desiredDevice(loc, observed);
  const { peers: wanted, events } = desiredPeers(loc, peers, observed, claims);
  const proto = loc.routeProtocol;
  const phase1: OverlayOperation[] = [];
  const phase2: OverlayOperation[] = [];
  const phase3: OverlayOperation[] = [];

  let have = observed;
  const dev = observed.device;
  const why = dev ? deviceIncompatibility(device, dev) : undefined;
  if (!dev || why) {
    if (dev) {
      phase1.push({ op: 'device-delete', name: device.name, reason: why! });
      events.push({
        type: 'Warning',
        reason: 'DeviceReplaced',
        nodeName: loc.nodeName,
        message: `replacing ${device.name}: ${why}`,
      });
    } else {
      events.push({
        type: 'Normal',
        reason: 'DeviceCreated',
        nodeName: loc.nodeName,
        message: `creating ${device.name} (VNI ${device.vni}, port ${device.port}, MTU ${device.mtu})`,
      });
    }
    const { addrs: _addrs, learning: _learning, ...create } = device;
    phase1.push({ op: 'device-create', ...create });
    phase1.push({ op: 'device-set', name: device.name, up: true });
    have = {
      ...observed,
      deviceAddrs: [],
      neighbours: [],
      fdb: [],
      routes: observed.routes.filter((r) => r.dev !== device.name),
    };
  } else {
    const set: { mtu?: number; mac?: string; up?: true } = {};
    if (dev.mtu !== device.mtu) set.mtu = device.mtu;
    if (dev.mac?.toLowerCase() !== device.mac) set.mac = device.mac;
    if (!dev.up) set.up = true;
    if (Object.keys(set).length > 0) phase1.push({ op: 'device-set', name: device.name, ...set });
  }

  const haveAddrs = new Set(have.deviceAddrs);
  for (const cidr of device.addrs) {
    if (!haveAddrs.has(cidr)) phase1.push({ op: 'address-replace', dev: device.name, cidr });
  }
  const wantAddrs = new Set(device.addrs);
  for (const cidr of have.deviceAddrs) {
    if (!wantAddrs.has(cidr)) phase1.push({ op: 'address-delete', dev: device.name, cidr });
  }

  const wantRoutes = new Map<string, RouteEntry & { peer: string }>();
  const wantNeigh = new Map<string, NeighbourEntry & { peer: string }>();
  const wantFdb = new Map<string, FdbEntry & { peer: string }>();
  for (const p of wanted) {
    for (const r of p.routes) wantRoutes.set(routeKey(r), { ...r, peer: p.nodeName });
    for (const n of p.neighbours) wantNeigh.set(n.dst, { ...n, peer: p.nodeName });
    for (const f of p.fdb) wantFdb.set(f.mac, { ...f, peer: p.nodeName });
  }

  const haveRoutes = new Map<string, RouteEntry>();
  for (const r of have.routes) {
    const key = routeKey(r);
    if (!wantRoutes.has(key)) {
      phase1.push({ op: 'route-delete', dst: r.dst, via: r.via, dev: r.dev, proto });
    } else {
      haveRoutes.set(key, r);
    }
  }

  const fdbByMac = new Map<string, FdbEntry[]>();
  for (const f of have.fdb) {
    const list = fdbByMac.get(f.mac) ?? [];
    list.push(f);
    fdbByMac.set(f.mac, list);
  }
  for (const [mac, list] of fdbByMac) {
    const want = wantFdb.get(mac);
    const keep = want && list.some((f) => f.dst === want.dst) ? want.dst : undefined;
    for (const f of list) {
      if (f.dst !== keep && !(want && list.length === 1)) {
        phase2.push({ op: 'fdb-delete', dev: device.name, mac, dst: f.dst });
      }
    }
  }
  for (const [mac, f] of wantFdb) {
    const list = fdbByMac.get(mac);
    if (!list?.some((h) => h.dst === f.dst)) {
      phase2.push({ op: 'fdb-replace', dev: device.name, mac, dst: f.dst, peer: f.peer });
    }
  }

  const haveNeigh = new Map(have.neighbours.map((n) => [n.dst, n]));
  for (const n of have.neighbours) {
    if (!wantNeigh.has(n.dst)) phase3.push({ op: 'neigh-delete', dev: device.name, dst: n.dst });
  }
  for (const [dst, n] of wantNeigh) {
    if (haveNeigh.get(dst)?.mac.toLowerCase() !== n.mac) {
      phase3.push({ op: 'neigh-replace', dev: device.name, dst, mac: n.mac, peer: n.peer });
    }
  }
  for (const [key, r] of wantRoutes) {
    const h = haveRoutes.get(key);
    if (!h || !sameRoute(h, r)) {
      phase3.push({
        op: 'route-replace',
        dst: r.dst,
        via: r.via,
        dev: r.dev,
        onlink: r.onlink,
        proto,
        peer: r.peer,
      });
    }
  }

  return {
    device,
    peers: wanted,
    operations: [...phase1, ...phase2, ...phase3],
    events,
    routeProtocol: proto,
  };
}

/** The device as the kernel shows it once `device` is applied. */
export function observedDevice(d: DesiredDevice): ObservedDevice {
  return {
    ifname: d.name,
    kind: 'vxlan',
    vni: d.vni,
    port: d.port,
    local: d.local,
    link: d.uplink,
    learning: false,
    mac: d.mac,
    mtu: d.mtu,
    up: true,
  };
}

/** The kernel state a fully applied plan leaves behind (for reconcilers that keep state in memory). */
export function observedAfter(
  plan: Pick<OverlayPlan, 'device' | 'peers'>,
  uplink: ObservedOverlay['uplink'],
): ObservedOverlay {
  return {
    uplink,
    device: observedDevice(plan.device),
    deviceAddrs: [...plan.device.addrs],
    neighbours: plan.peers.flatMap((p) => p.neighbours),
    fdb: plan.peers.flatMap((p) => p.fdb),
    routes: plan.peers.flatMap((p) => p.routes),
  };
}

/**
 * Plans the overlay's removal: every route carrying its `proto`, then the device (which takes its
 * neighbour and FDB entries and addresses with it). Pure; nothing to do when nothing is there.
 */
export function planOverlayRemoval(
  local: Pick<LocalNode, 'vni' | 'deviceName' | 'routeProtocol'>,
  observed: ObservedOverlay,
): Pick<OverlayPlan, 'operations'> {
  const name = local.deviceName ?? defaultDeviceName(local.vni ?? DEFAULT_VNI);
  const proto = local.routeProtocol ?? DEFAULT_ROUTE_PROTOCOL;
  const operations: OverlayOperation[] = observed.routes.map((r) => ({
    op: 'route-delete',
    dst: r.dst,
    via: r.via,
    dev: r.dev,
    proto,
  }));
  if (observed.device) operations.push({ op: 'device-delete', name, reason: 'overlay removed' });
  return { operations };
}
