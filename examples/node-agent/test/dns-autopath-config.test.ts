import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../src/config.js';
import { dnsProcessArgv, dnsServerOptions, dnsSettingsArgv } from '../src/dns-process.js';
import { withDns as withClusterDns } from './config-fixture.js';

const withDns = (dns: Record<string, unknown>) => ({ ...withClusterDns(dns), nodeName: 'n1' });
const base = withDns({});
const errorOf = (v: unknown) => {
  try {
    parseAgentConfig(v);
  } catch (e) {
    return e as { code: string; path: string; message: string };
  }
  throw new Error('no error');
};

describe('dns.autopath and dns.fqdnFloorSeconds', () => {
  it('reach podnet-dns as flags and the embedded server as options', () => {
    const dns = parseAgentConfig(withDns({ autopath: true, fqdnFloorSeconds: 45 })).dns;
    expect(dns).toMatchObject({ autopath: true, fqdnFloorSeconds: 45 });
    expect(dnsSettingsArgv(dns).slice(-3)).toEqual(['--autopath', '--fqdn-floor', '45']);
    expect(dnsServerOptions(dns).autopath).toBe(true);
    const off = parseAgentConfig(withDns({ autopath: false })).dns;
    expect(dnsSettingsArgv(off)).not.toContain('--autopath');
    expect(dnsServerOptions(off).autopath).toBeUndefined();
  });

  it("podnet-dns always fills this node's FQDN egress sets", () => {
    const argv = dnsProcessArgv(parseAgentConfig(base));
    expect(argv.slice(-3)).toEqual(['--fqdn-egress', '--node-name', 'n1']);
  });

  it.each([
    [{ autopath: 'yes' }, 'config.dns.autopath', 'true or false'],
    [{ fqdnFloorSeconds: 0 }, 'config.dns.fqdnFloorSeconds', 'from 1 to 86400'],
    [{ fqdnFloorSeconds: 1.5 }, 'config.dns.fqdnFloorSeconds', 'from 1 to 86400'],
  ])('rejects %j naming %s', (dns, path, why) => {
    const e = errorOf(withDns(dns));
    expect(e.code).toBe('INVALID_CONFIG');
    expect(e.path).toBe(path);
    expect(e.message).toContain(why);
  });
});
