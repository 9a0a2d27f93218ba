/** How a peer whose pod traffic could skip encapsulation is routed. */
export type DirectRoutingMode = 'auto' | 'always' | 'never';

/** UDP port of the Linux (and flannel) VXLAN default; 4789 is the IANA port. */
export const DEFAULT_VXLAN_PORT = 8472;
/** The default VXLAN network identifier. */
export const DEFAULT_VNI = 1;
/** Routes this package installs carry this `proto` number, so it can find (and only touch) its own. */
export const DEFAULT_ROUTE_PROTOCOL = 152;

/** The node this overlay runs on. */
export interface LocalNode {
  /** Kubernetes node name; the default VTEP MAC is derived from it ({@link vtepMacFor}). */
  nodeName: string;
  /** The underlay interface the VXLAN device is bound to (e.g. `eth0`). */
  uplink: string;
  /** The node's underlay addresses (one per family). */
  nodeIPs: string[];
  /** The node's pod CIDRs (`node.spec.podCIDRs`), at most one per family. */
  podCIDRs: string[];
  /** VXLAN network identifier, default 1. */
  vni?: number;
  /** VXLAN UDP port, default 8472. */
  port?: number;
  /** Default `auto`: a peer on one of the uplink's own subnets is routed directly. */
  directRouting?: DirectRoutingMode;
  /** Which node IP family carries the encapsulated traffic; default the family of `nodeIPs[0]`. */
  underlayFamily?: 'ipv4' | 'ipv6';
  /** VXLAN device name; default `podnet.<vni>`. */
  deviceName?: string;
  /** VTEP MAC; default `vtepMacFor(nodeName)`. */
  vtepMac?: string;
  /** Device MTU; default uplink MTU − 50 (IPv4 underlay) or − 70 (IPv6 underlay). */
  mtu?: number;
  /** `proto` of the routes this package owns; default 152. */
  routeProtocol?: number;
}

/** Another node whose pods must be reachable. */
export interface PeerNode {
  nodeName: string;
  /** The peer's underlay addresses (its public IPs). */
  nodeIPs: string[];
  /** The peer's pod CIDRs. */
  podCIDRs: string[];
  /** The peer's VTEP MAC; default `vtepMacFor(nodeName)`. */
  vtepMac?: string;
}

/** The VXLAN device as read from the kernel. */
export interface ObservedDevice {
  ifname: string;
  kind: string;
  vni?: number;
  port?: number;
  local?: string;
  /** Name of the underlay link it is bound to. */
  link?: string;
  learning?: boolean;
  mac?: string;
  mtu?: number;
  up: boolean;
}

/** The underlay interface as read from the kernel. */
export interface ObservedUplink {
  ifname: string;
  mtu: number;
  /** Global addresses in CIDR form (`192.168.1.5/24`). */
  addrs: string[];
}

/** A permanent neighbour entry on the VXLAN device. */
export interface NeighbourEntry {
  /** The gateway address (the remote pod subnet's network address). */
  dst: string;
  mac: string;
}

/** A permanent FDB entry on the VXLAN device: VTEP MAC → remote node IP. */
export interface FdbEntry {
  mac: string;
  dst: string;
}

/** A route this package owns (identified by its `proto`). */
export interface RouteEntry {
  /** Destination CIDR. */
  dst: string;
  /** Gateway. */
  via: string;
  /** Output device. */
  dev: string;
  onlink: boolean;
}

/** What the kernel holds now, as far as this overlay is concerned. Plain JSON. */
export interface ObservedOverlay {
  uplink?: ObservedUplink;
  device?: ObservedDevice;
  /** Global addresses on the device, CIDR form. */
  deviceAddrs: string[];
  neighbours: NeighbourEntry[];
  fdb: FdbEntry[];
  /** Routes in the main table carrying the overlay's `proto`. */
  routes: RouteEntry[];
}

/** The device the plan wants. */
export interface DesiredDevice {
  name: string;
  vni: number;
  port: number;
  local: string;
  uplink: string;
  mtu: number;
  mac: string;
  /** Always false: peers are programmed, never learned. */
  learning: false;
  /** Addresses on the device: the first address of each local pod CIDR as /32 or /128. */
  addrs: string[];
}

/** What one peer contributes. `vxlan` peers get neighbour + FDB + onlink route; `direct` a route. */
export interface DesiredPeer {
  nodeName: string;
  mode: 'vxlan' | 'direct' | 'mixed';
  neighbours: NeighbourEntry[];
  fdb: FdbEntry[];
  routes: RouteEntry[];
}

/** Something the planner wants a person (or a Kubernetes Event) to know. */
export interface OverlayEvent {
  type: 'Warning' | 'Normal';
  reason: 'PeerSkipped' | 'DeviceReplaced' | 'DeviceCreated' | 'PodCIDRSkipped';
  nodeName: string;
  message: string;
}

/** One kernel change. Rendered to one `ip -batch` or `bridge -batch` line. */
export type OverlayOperation =
  | { op: 'device-delete'; name: string; reason: string }
  | {
      op: 'device-create';
      name: string;
      vni: number;
      port: number;
      local: string;
      uplink: string;
      mtu: number;
      mac: string;
    }
  | { op: 'device-set'; name: string; mtu?: number; mac?: string; up?: true }
  | { op: 'address-replace'; dev: string; cidr: string }
  | { op: 'address-delete'; dev: string; cidr: string }
  | { op: 'neigh-replace'; dev: string; dst: string; mac: string; peer?: string }
  | { op: 'neigh-delete'; dev: string; dst: string; peer?: string }
  | { op: 'fdb-replace'; dev: string; mac: string; dst: string; peer?: string }
  | { op: 'fdb-delete'; dev: string; mac: string; dst: string; peer?: string }
  | {
      op: 'route-replace';
      dst: string;
      via: string;
      dev: string;
      onlink: boolean;
      proto: number;
      peer?: string;
    }
  | { op: 'route-delete'; dst: string; via: string; dev: string; proto: number; peer?: string };

/** A plan: the desired state, the ordered operations that reach it, and what was skipped. */
export interface OverlayPlan {
  device: DesiredDevice;
  peers: DesiredPeer[];
  /**
   * Ordered: device changes and route removals; FDB removals and replacements; neighbour
   * removals and replacements, then route replacements. So entries exist before a route points
   * at them, and routes go before the entries they used.
   */
  operations: OverlayOperation[];
  events: OverlayEvent[];
  /** Route protocol the plan's routes carry. */
  routeProtocol: number;
}
