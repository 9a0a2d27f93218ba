import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../src/config.js';
import { dnsProcessArgv } from '../src/dns-process.js';

const config = {
  nodeName: 'n1',
  stateDir: '/var/lib/podnet',
  socketPath: '/run/podnet/agent.sock',
  cniConfDir: '/etc/cni/net.d',
  source: { kind: 'manifests', dir: '/etc/podnet/manifests' },
  clusterCidrs: ['10.244.0.0/16'],
  serviceCidrs: ['10.96.0.0/12'],
  uplink: 'eth0',
  nodeIps: ['192.168.1.2'],
  dns: { ip: '169.254.20.10', clusterDomain: 'cluster.local' },
  http: { address: '127.0.0.1', port: 9100 },
};

describe('dnsProcessArgv', () => {
  it('starts podnet-dns with the Node flags its #! line gives it (a 1 MB young generation)', () => {
    const argv = dnsProcessArgv(parseAgentConfig(config));
    expect(argv[0]).toBe(process.execPath);
    expect(argv[1]).toBe('--max-semi-space-size=1');
    // the flags go to node, before the script
    expect(argv.findIndex((a) => /podnet-dns\.(js|ts)$/.test(a))).toBeGreaterThan(1);
  });
});
