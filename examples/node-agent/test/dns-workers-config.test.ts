import { describe, expect, it } from 'vitest';
import { dnsServerOptions, dnsSettingsArgv } from '../src/dns-process.js';
import { AgentError, parseAgentConfig } from '../src/index.js';
import { withDns } from './config-fixture.js';

describe('dns.workers (UDP worker threads of the DNS server)', () => {
  it('takes auto or 1-64 and passes it to podnet-dns and the embedded server', () => {
    for (const workers of ['auto', 1, 2, 64] as const) {
      const dns = parseAgentConfig(withDns({ workers })).dns;
      expect(dns.workers).toBe(workers);
      const argv = dnsSettingsArgv(dns);
      expect(argv.slice(argv.indexOf('--workers'), argv.indexOf('--workers') + 2)).toEqual([
        '--workers',
        String(workers),
      ]);
      expect(dnsServerOptions(dns).udpWorkers).toBe(workers);
    }
  });

  it('is left to podnet-dns (auto) and to the embedded server (1) when not given', () => {
    const dns = parseAgentConfig(withDns({})).dns;
    expect(dnsSettingsArgv(dns)).not.toContain('--workers');
    expect(dnsServerOptions(dns).udpWorkers).toBeUndefined();
  });

  it.each([0, 65, 1.5, '2', 'all', null])('refuses %j naming dns.workers', (workers) => {
    let error: unknown;
    try {
      parseAgentConfig(withDns({ workers }));
    } catch (e) {
      error = e;
    }
    expect(AgentError.isInstance(error)).toBe(true);
    expect((error as AgentError).message).toMatch(/dns\.workers.*want "auto" or an integer 1-64/);
  });
});
