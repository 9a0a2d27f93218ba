import type { ManifestProblem } from './manifests.js';

const CLUSTER_KEYS = new Set([
  'kind',
  'apiVersion',
  'name',
  'networking',
  'nodes',
  'featureGates',
  'runtimeConfig',
  'kubeadmConfigPatches',
  'kubeadmConfigPatchesJSON6902',
  'containerdConfigPatches',
  'containerdConfigPatchesJSON6902',
]);
const NETWORKING_KEYS = new Set([
  'ipFamily',
  'apiServerPort',
  'apiServerAddress',
  'podSubnet',
  'serviceSubnet',
  'disableDefaultCNI',
  'kubeProxyMode',
  'dnsSearch',
]);
const NODE_KEYS = new Set([
  'role',
  'image',
  'labels',
  'extraMounts',
  'extraPortMappings',
  'kubeadmConfigPatches',
  'kubeadmConfigPatchesJSON6902',
]);
const PROXY_MODES = new Set(['iptables', 'ipvs', 'nftables', 'none']);

/** Checks a kind `Cluster` config (kind.x-k8s.io/v1alpha4): known fields and value shapes. */
export function checkKindConfig(doc: Record<string, unknown>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const bad = (path: string, message: string) =>
    problems.push({ doc: 'kind Cluster', path, message });
  if (doc.kind !== 'Cluster') bad('/kind', 'want Cluster');
  if (doc.apiVersion !== 'kind.x-k8s.io/v1alpha4')
    bad('/apiVersion', 'want kind.x-k8s.io/v1alpha4');
  for (const k of Object.keys(doc)) if (!CLUSTER_KEYS.has(k)) bad(`/${k}`, 'unknown field');
  const net = (doc.networking ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(net))
    if (!NETWORKING_KEYS.has(k)) bad(`/networking/${k}`, 'unknown field');
  if (net.kubeProxyMode !== undefined && !PROXY_MODES.has(String(net.kubeProxyMode))) {
    bad('/networking/kubeProxyMode', `want one of ${[...PROXY_MODES].join(', ')}`);
  }
  for (const k of ['podSubnet', 'serviceSubnet']) {
    if (net[k] !== undefined && !/^[0-9a-f.:]+\/\d+(,[0-9a-f.:]+\/\d+)?$/i.test(String(net[k]))) {
      bad(`/networking/${k}`, 'want a CIDR (or two, comma-separated, for dual stack)');
    }
  }
  const nodes = (doc.nodes ?? []) as Record<string, unknown>[];
  nodes.forEach((n, i) => {
    for (const k of Object.keys(n)) if (!NODE_KEYS.has(k)) bad(`/nodes/${i}/${k}`, 'unknown field');
    if (n.role !== 'control-plane' && n.role !== 'worker')
      bad(`/nodes/${i}/role`, 'want control-plane or worker');
  });
  return problems;
}
