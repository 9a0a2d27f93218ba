import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  logLimitedCounterArgs,
  logLimitedCounterResetArgs,
  type NetworkPolicy,
  nflogSocketDrops,
  PolicySyncer,
  parseLogLimitedCounter,
  readVerdictLogs,
  type VerdictLogRecord,
} from '../../src/index.js';
import { XYZ_PODS, xyzModel, xyzPodIp } from '../../src/testing/index.js';
import { PodTopology } from './topology.js';

const LOG_GROUP = 9;
const RATE = 20;
const BURST = 20;
const FLOOD = 3000;

/**
 * Sends `count` UDP datagrams to ip:port from one socket, paced in small bursts (so the veth
 * backlog never overflows and every datagram reaches the node's policy chains); prints how many
 * were sent and how many echoes came back.
 */
const FLOODER = `
const dgram = require('node:dgram');
const [ip, port, count] = process.argv.slice(1);
const u = dgram.createSocket('udp4');
let sent = 0, replies = 0, failed = 0, queued = 0;
u.on('message', () => replies++);
function burst() {
  for (let k = 0; k < 20 && queued < Number(count); k++, queued++)
    u.send('x', Number(port), ip, (e) => (e ? failed++ : sent++));
  if (queued < Number(count)) setTimeout(burst, 1);
  else setTimeout(() => { console.log(JSON.stringify({ sent, failed, replies })); u.close(); }, 500);
}
u.bind(0, burst);
`;

describe('a storm of denied packets under the log rate limit', () => {
  let net: TestNet;
  let topo: PodTopology;
  let syncer: PolicySyncer;
  const base = xyzModel({ hostIP: '10.88.0.1' });

  beforeAll(async () => {
    net = createTestNet();
    topo = new PodTopology(net);
    await topo.init();
    for (const key of ['x/c', 'y/a', 'z/b'])
      await topo.addPod(key, xyzPodIp(XYZ_PODS.indexOf(key)));
    syncer = new PolicySyncer({
      host: topo.nodeHost(),
      log: { group: LOG_GROUP },
      logRateLimit: { rate: RATE, burst: BURST },
    });
  });
  afterAll(async () => {
    await syncer?.close();
    topo?.close();
    await net?.cleanup();
  });

  const limited = async () =>
    parseLogLimitedCounter(await topo.nodeHost().nft(logLimitedCounterArgs())) ?? -1;

  it('caps the records, counts every suppressed one, and lets allowed traffic through', async () => {
    const fromY: NetworkPolicy = {
      metadata: { namespace: 'z', name: 'from-y' },
      spec: {
        podSelector: { matchLabels: { pod: 'b' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      },
    };
    await syncer.sync({ ...base, networkPolicies: [fromY] });
    expect(await limited()).toBe(0);

    const records: VerdictLogRecord[] = [];
    const reader = readVerdictLogs({
      group: LOG_GROUP,
      netns: topo.node,
      bufferKiB: 4096,
      onRecord: (r) => records.push(r),
    });
    try {
      await reader.ready;
      const flood = net.exec(topo.pod('x/c').ns, [
        process.execPath,
        '-e',
        FLOODER,
        topo.pod('z/b').ip,
        '81',
        String(FLOOD),
      ]);
      // allowed traffic while the storm runs, and after it
      const during = await Promise.all([
        topo.probe('y/a', 'z/b', 'TCP', 80),
        topo.probe('y/a', 'z/b', 'UDP', 81),
      ]);
      const { sent, failed, replies } = JSON.parse((await flood).stdout) as {
        sent: number;
        failed: number;
        replies: number;
      };
      expect(during).toEqual([true, true]);
      expect(await topo.probe('y/a', 'z/b', 'TCP', 80)).toBe(true);
      expect(failed).toBe(0);
      expect(sent).toBe(FLOOD);
      // the verdict never changed: not one denied datagram got through
      expect(replies).toBe(0);

      // every denied packet was either logged (read, or dropped at the capture socket) or
      // counted over the limit: wait until the reader has taken what the kernel queued
      const tally = () => {
        const drops = reader.pid === undefined ? 0 : (nflogSocketDrops(reader.pid) ?? 0);
        const flood = records.filter((r) => r.src === topo.pod('x/c').ip).length;
        return { drops, flood };
      };
      const settled = await waitFor(
        async () => {
          const c = await limited();
          const t = tally();
          return c + t.flood + t.drops === sent ? { counted: c, ...t } : undefined;
        },
        { timeoutMs: 10_000, what: 'records + socket drops + rate-limited = sent' },
      ).catch(async () => ({ counted: await limited(), ...tally() }));
      expect(settled.counted + settled.flood + settled.drops).toBe(sent);
      // capped: the burst and a few seconds' worth at most, far below the flood
      expect(settled.flood).toBeGreaterThanOrEqual(1);
      expect(settled.flood + settled.drops).toBeLessThan(sent / 10);
      expect(settled.counted).toBeGreaterThan(sent - sent / 10);
      // the agent's read: fetch-and-zero returns the same count, then the counter is 0
      const reset = await topo.nodeHost().nft(logLimitedCounterResetArgs());
      expect(parseLogLimitedCounter(reset)).toBe(settled.counted);
      expect(await limited()).toBe(0);
      for (const r of records.filter((x) => x.src === topo.pod('x/c').ip))
        expect(r).toMatchObject({
          verdict: 'drop',
          direction: 'ingress',
          policies: [{ namespace: 'z', name: 'from-y' }],
          dst: topo.pod('z/b').ip,
          dstPort: 81,
        });
    } finally {
      await reader.stop();
    }
  });

  it('a denied probe after the storm is logged again once the bucket refills', async () => {
    const records: VerdictLogRecord[] = [];
    const reader = readVerdictLogs({
      group: LOG_GROUP,
      netns: topo.node,
      onRecord: (r) => records.push(r),
    });
    try {
      await reader.ready;
      await new Promise((r) => setTimeout(r, (1000 * BURST) / RATE + 200));
      const before = await limited();
      expect(await topo.probe('x/c', 'z/b', 'TCP', 80, 1000)).toBe(false);
      const rec = await waitFor(() => records.find((r) => r.src === topo.pod('x/c').ip), {
        timeoutMs: 5000,
        what: 'the probe record',
      });
      expect(rec).toMatchObject({
        verdict: 'drop',
        policies: [{ namespace: 'z', name: 'from-y' }],
      });
      expect(await limited()).toBe(before);
    } finally {
      await reader.stop();
    }
  });
});
