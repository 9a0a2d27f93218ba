import { createTestNet, type TestNet } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientResult,
  flowTrafficBinary,
  quantile,
  runJsonIn,
  type StormResult,
  spread,
} from '../../bench/flow-traffic.js';

/** `Udp: ... NoPorts ...` of /proc/net/snmp inside `ns`: datagrams that found no socket. */
async function udpNoPorts(net: TestNet, ns: string): Promise<number> {
  const text = (await net.exec(ns, ['cat', '/proc/net/snmp'])).stdout;
  const [names, values] = text.split('\n').filter((l) => l.startsWith('Udp:'));
  const i = (names as string).split(/\s+/).indexOf('NoPorts');
  return Number((values as string).split(/\s+/)[i]);
}

// The storm benchmark's traffic tool (bench/flow-traffic.c), in a namespace of its own on lo.
describe('flow-traffic: the storm benchmark traffic', () => {
  let net: TestNet;
  let ns: string;
  let bin: string;

  beforeAll(async () => {
    bin = flowTrafficBinary();
    net = createTestNet();
    ns = await net.ns('ftr');
    await net.exec(ns, ['ip', 'link', 'set', 'lo', 'up']);
  });
  afterAll(() => net?.cleanup());

  it('the storm sends exactly rate x seconds datagrams, and the kernel sees each', async () => {
    const before = await udpNoPorts(net, ns);
    const r = await runJsonIn<StormResult>(ns, [bin, 'storm', '127.0.0.1', '9', '3000', '1']);
    expect(r).toMatchObject({ sent: 3000, failed: 0 });
    expect(r.ms).toBeGreaterThanOrEqual(990);
    expect((await udpNoPorts(net, ns)) - before).toBe(3000);
  });

  it('the client counts completed connections per window', async () => {
    const server = net.spawn(ns, [bin, 'server', '18080']);
    await new Promise<void>((r) => server.stdout?.once('data', () => r()));
    const r = await runJsonIn<ClientResult>(ns, [
      bin,
      'client',
      '127.0.0.1',
      '18080',
      '600',
      '100',
    ]);
    server.kill('SIGKILL');
    expect(r.windows).toHaveLength(6);
    expect(r.errors).toBe(0);
    for (const n of r.windows) expect(n).toBeGreaterThan(0);
    expect(r.p50Us).toBeGreaterThan(0);
    expect(r.p99Us).toBeGreaterThanOrEqual(r.p50Us);
  });

  it('a refused connection is counted as an error, not a window', async () => {
    const r = await runJsonIn<ClientResult>(ns, [
      bin,
      'client',
      '127.0.0.1',
      '18081',
      '200',
      '100',
    ]);
    expect(r.windows).toEqual([0, 0]);
    expect(r.errors).toBeGreaterThan(0);
  });

  it('quantiles and spread of a sample', () => {
    const xs = [5, 1, 4, 2, 3];
    expect(quantile(xs, 0.5)).toBe(3);
    expect(quantile(xs, 0)).toBe(1);
    expect(quantile(xs, 1)).toBe(5);
    expect(spread(xs)).toEqual({ median: 3, p25: 2, p75: 4, min: 1, max: 5, n: 5 });
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([10, 20], 0.25)).toBe(12.5);
    expect(quantile([], 0.5)).toBeNaN();
  });
});
