import { isMac } from '@podnet/host/validate';
import { canonicalIp, familyOf, isUnicastMac } from './addr.js';
import { OverlayError } from './errors.js';
import type { OverlayEvent, PeerNode } from './types.js';

/** Annotation keys a node publishes for its peers (flannel publishes the same facts). */
export const ANNOTATION_KEYS = {
  backendType: 'overlay.podnet.io/backend-type',
  vtepMac: 'overlay.podnet.io/vtep-mac',
  vni: 'overlay.podnet.io/vni',
  publicIP: 'overlay.podnet.io/public-ip',
  publicIPv6: 'overlay.podnet.io/public-ipv6',
} as const;

/** What a node tells its peers. */
export interface NodeOverlayInfo {
  backendType: 'vxlan';
  vtepMac: string;
  vni: number;
  /** The node's underlay addresses, at most one per family. */
  publicIPs: string[];
}

function invalid(key: string, value: unknown, why: string): never {
  throw new OverlayError(
    'INVALID_ANNOTATION',
    `annotation ${key}=${JSON.stringify(value)}: ${why}`,
    {
      field: `annotations["${key}"]`,
      value,
    },
  );
}

function checkInfo(info: NodeOverlayInfo): NodeOverlayInfo {
  if (info.backendType !== 'vxlan')
    invalid(ANNOTATION_KEYS.backendType, info.backendType, 'want vxlan');
  if (!isMac(info.vtepMac) || !isUnicastMac(info.vtepMac)) {
    invalid(
      ANNOTATION_KEYS.vtepMac,
      info.vtepMac,
      'want a unicast MAC of six colon-separated hex octets',
    );
  }
  if (!Number.isInteger(info.vni) || info.vni < 1 || info.vni > 16_777_215) {
    invalid(ANNOTATION_KEYS.vni, info.vni, 'want an integer from 1 to 16777215');
  }
  const ips = info.publicIPs.map(
    (ip) => canonicalIp(ip) ?? invalid(ANNOTATION_KEYS.publicIP, ip, 'want an IP address'),
  );
  if (ips.length === 0)
    invalid(ANNOTATION_KEYS.publicIP, undefined, 'a node needs a public IP or IPv6');
  if (new Set(ips.map(familyOf)).size !== ips.length) {
    invalid(ANNOTATION_KEYS.publicIP, info.publicIPs, 'want at most one address per family');
  }
  return { ...info, vtepMac: info.vtepMac.toLowerCase(), publicIPs: ips };
}

/** The annotations a node sets on its Node object. Throws `INVALID_ANNOTATION` on bad input. */
export function encodeNodeAnnotations(info: NodeOverlayInfo): Record<string, string> {
  const ok = checkInfo(info);
  const out: Record<string, string> = {
    [ANNOTATION_KEYS.backendType]: ok.backendType,
    [ANNOTATION_KEYS.vtepMac]: ok.vtepMac,
    [ANNOTATION_KEYS.vni]: String(ok.vni),
  };
  for (const ip of ok.publicIPs) {
    out[familyOf(ip) === 'ipv4' ? ANNOTATION_KEYS.publicIP : ANNOTATION_KEYS.publicIPv6] = ip;
  }
  return out;
}

/**
 * Reads a node's overlay annotations (other annotations are ignored). Throws `INVALID_ANNOTATION`
 * naming the annotation at fault.
 */
export function decodeNodeAnnotations(
  annotations: Readonly<Record<string, string | undefined>> | undefined,
): NodeOverlayInfo {
  const a = annotations ?? {};
  const type = a[ANNOTATION_KEYS.backendType];
  if (type === undefined) invalid(ANNOTATION_KEYS.backendType, type, 'missing');
  const mac = a[ANNOTATION_KEYS.vtepMac];
  if (mac === undefined) invalid(ANNOTATION_KEYS.vtepMac, mac, 'missing');
  const vniText = a[ANNOTATION_KEYS.vni] ?? '1';
  if (!/^\d{1,8}$/.test(vniText)) invalid(ANNOTATION_KEYS.vni, vniText, 'want a decimal integer');
  const v4 = a[ANNOTATION_KEYS.publicIP];
  const v6 = a[ANNOTATION_KEYS.publicIPv6];
  if (v4 !== undefined && (!canonicalIp(v4) || familyOf(v4) !== 'ipv4')) {
    invalid(ANNOTATION_KEYS.publicIP, v4, 'want an IPv4 address');
  }
  if (v6 !== undefined && (!canonicalIp(v6) || familyOf(v6) !== 'ipv6')) {
    invalid(ANNOTATION_KEYS.publicIPv6, v6, 'want an IPv6 address');
  }
  const publicIPs = [v4, v6].filter((x): x is string => x !== undefined);
  return checkInfo({ backendType: type as 'vxlan', vtepMac: mac, vni: Number(vniText), publicIPs });
}

/** The parts of a Kubernetes Node a peer is built from. */
export interface NodeLike {
  name: string;
  podCIDRs: string[];
  annotations?: Readonly<Record<string, string | undefined>>;
}

/**
 * Builds peers from nodes: the local node and nodes without pod CIDRs are left out silently; a node
 * whose annotations are bad, or whose VNI differs from `vni`, is skipped with a Warning event and
 * the others are unaffected.
 */
export function peersFromNodes(
  nodes: readonly NodeLike[],
  opts: { localNodeName: string; vni?: number },
): { peers: PeerNode[]; events: OverlayEvent[] } {
  const peers: PeerNode[] = [];
  const events: OverlayEvent[] = [];
  for (const node of nodes) {
    if (node.name === opts.localNodeName || node.podCIDRs.length === 0) continue;
    try {
      const info = decodeNodeAnnotations(node.annotations);
      if (info.vni !== (opts.vni ?? 1)) {
        invalid(ANNOTATION_KEYS.vni, info.vni, `this node uses VNI ${opts.vni ?? 1}`);
      }
      peers.push({
        nodeName: node.name,
        nodeIPs: info.publicIPs,
        podCIDRs: [...node.podCIDRs],
        vtepMac: info.vtepMac,
      });
    } catch (error) {
      if (!OverlayError.isInstance(error)) throw error;
      events.push({
        type: 'Warning',
        reason: 'PeerSkipped',
        nodeName: node.name,
        message: `peer ${node.name} skipped: ${error.message}`,
      });
    }
  }
  return { peers, events };
}
