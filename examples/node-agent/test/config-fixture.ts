/** A valid agent config without `dns` (unit tests of config parsing add what they test). */
export const BASE_CONFIG = {
  nodeName: 'node-1',
  stateDir: '/var/lib/podnet',
  socketPath: '/run/podnet/agent.sock',
  cniConfDir: '/etc/cni/net.d',
  source: { kind: 'manifests', dir: '/etc/podnet/manifests' },
  clusterCidrs: ['10.244.0.0/16'],
  serviceCidrs: ['10.96.0.0/16'],
  uplink: 'eth0',
  nodeIps: ['192.168.1.10'],
  http: { address: '127.0.0.1', port: 9450 },
};

/** {@link BASE_CONFIG} with the cluster DNS address and domain, plus `dns`. */
export const withDns = (dns: Record<string, unknown>) => ({
  ...BASE_CONFIG,
  dns: { ip: '169.254.20.10', clusterDomain: 'cluster.local', ...dns },
});
