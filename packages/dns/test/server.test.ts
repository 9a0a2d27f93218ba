import { describe, expect, it } from 'vitest';
import { DnsServer } from '../src/index.js';
import { Z, dig, loopbackSuite, run, state, status } from './loopback-suite.js';

// The native path is exercised by test/netns/native-udp.test.ts (it needs the package built).
loopbackSuite('dgram');

describe('DnsServer options', () => {
  it('rejects bad upstreams and listen options naming the field', async () => {
    expect(() => new DnsServer({ upstreams: ['not-an-ip'] })).toThrow(/upstreams\[0\]/);
    expect(() => new DnsServer({ resolvConf: '/nonexistent/resolv.conf' })).toThrow(/resolvConf/);
    const s = new DnsServer();
    await expect(s.start({ address: 'localhost' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'address',
    });
    await expect(s.start({ port: 70000 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'udpPort',
    });
    expect(() => s.address()).toThrow(expect.objectContaining({ code: 'NOT_STARTED' }));
  });

  it('answers REFUSED outside the zone without upstreams, and binds UDP and TCP to separate ports when asked', async () => {
    const s = new DnsServer();
    s.update(state);
    const first = await s.start({ port: 0 });
    const other = new DnsServer();
    other.update(state);
    const addr = await other.start({ udpPort: 0, tcpPort: 0 });
    try {
      expect(status(await dig(first.port, ['example.org']))).toBe('REFUSED');
      expect(addr.udpPort).toBeGreaterThan(0);
      const out = await run('dig', [
        '@127.0.0.1',
        '-p',
        String(addr.tcpPort),
        '+tcp',
        '+short',
        `web.default.svc.${Z}`,
      ]);
      expect(out.stdout.trim()).toBe('10.96.0.10');
    } finally {
      await s.stop();
      await other.stop();
    }
  });
});
