import { RecordingRunner } from '@podnet/host/testing';
import { describe, expect, it } from 'vitest';
import { AgentFlows } from '../src/flow-agent.js';
import { DEFAULT_LOG_RATE_LIMIT, parseFlowConfig } from '../src/flow-config.js';
import { FlowIndex } from '../src/flow-index.js';
import { RateLimitedAccount, RateLimitedPoller } from '../src/flow-limit.js';
import { type FlowEvent, FlowRecorder } from '../src/flows.js';
import { createLogger } from '../src/log.js';

const quiet = createLogger({ write: () => {} });

const counterJson = (packets: number, table = 'podnet_netpol') =>
  JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { counter: { family: 'inet', name: 'log_limited', table, handle: 3, packets, bytes: 0 } },
    ],
  });

describe('RateLimitedAccount', () => {
  it.each([
    { what: 'reset readings: each is new', readings: [40, 0, 7], news: [40, 0, 7], total: 47 },
    {
      what: 'reset readings: no counter yet',
      readings: [undefined, 3],
      news: [0, 3],
      total: 3,
    },
  ])('$what', ({ readings, news, total }) => {
    const a = new RateLimitedAccount();
    expect(readings.map((r) => a.observe(r))).toEqual(news);
    expect(a.total).toBe(total);
  });

  it.each([
    { what: 'first reading counts whole', readings: [40], news: [40], total: 40 },
    { what: 'increments', readings: [0, 10, 25, 25], news: [0, 10, 15, 0], total: 25 },
    {
      what: 'a table rebuild resets the counter: counted from 0 again',
      readings: [100, 130, 5, 20],
      news: [100, 30, 5, 15],
      total: 150,
    },
    { what: 'no counter (no table yet)', readings: [undefined, 7], news: [0, 7], total: 7 },
  ])('list readings (running totals): $what', ({ readings, news, total }) => {
    const a = new RateLimitedAccount('list');
    expect(readings.map((r) => a.observe(r))).toEqual(news);
    expect(a.total).toBe(total);
  });
});

describe('RateLimitedPoller: counter → lost records', () => {
  function setup(values: (number | Error)[]) {
    const recorder = new FlowRecorder({ node: 'node1', index: new FlowIndex() });
    const cursor = recorder.cursor();
    let k = 0;
    const poller = new RateLimitedPoller({
      recorder,
      log: quiet,
      read: async () => {
        const v = values[Math.min(k++, values.length - 1)] as number | Error;
        if (v instanceof Error) throw v;
        return counterJson(v);
      },
    });
    return { recorder, cursor, poller };
  }

  it('puts each reset reading in the stream as a rate-limited loss and in the metric', async () => {
    // fetch-and-zero readings: each is the count since the previous read
    const { recorder, cursor, poller } = setup([
      new Error('No such file or directory'),
      1200,
      0,
      7800,
    ]);
    for (let i = 0; i < 4; i++) await poller.poll();
    const events = recorder.read(cursor) as FlowEvent[];
    const lost = events.filter((e) => e.type === 'lost');
    expect(lost.map((e) => (e.type === 'lost' ? [e.reason, e.count] : []))).toEqual([
      ['rate-limited', 1200],
      ['rate-limited', 7800],
    ]);
    expect(lost[0]?.type === 'lost' && lost[0].message).toMatch(/kept their verdict/);
    const fam = recorder.metricFamilies().find((f) => f.name === 'podnet_flow_records_lost_total');
    expect(fam?.samples).toContainEqual({ labels: { reason: 'rate-limited' }, value: 9000 });
    expect(recorder.stats.rateLimited).toBe(9000);
  });

  it('counts nothing from another table or from an unreadable answer', async () => {
    const recorder = new FlowRecorder({ node: 'n', index: new FlowIndex() });
    const answers = [counterJson(50, 'other'), 'not json', counterJson(3)];
    let k = 0;
    const poller = new RateLimitedPoller({
      recorder,
      log: quiet,
      read: async () => answers[k++] as string,
    });
    for (let i = 0; i < 3; i++) await poller.poll();
    expect(recorder.stats.rateLimited).toBe(3);
  });

  it('stop() reads one last time', async () => {
    const { recorder, poller } = setup([4, 11]);
    await poller.poll();
    await poller.stop();
    expect(recorder.stats.rateLimited).toBe(15);
  });

  it('reads only while verdict logs flow, and once per idleReadMs when they do not', async () => {
    const recorder = new FlowRecorder({ node: 'n', index: new FlowIndex() });
    const found = [0, 0, 40, 0, 0, 0];
    let k = 0;
    const poller = new RateLimitedPoller({
      recorder,
      log: quiet,
      intervalMs: 1000,
      idleReadMs: 5000,
      read: async () => counterJson(found[Math.min(k++, found.length - 1)] as number),
    });
    const ticks = async (n: number) => {
      const before = poller.reads;
      for (let i = 0; i < n; i++) await poller.tick();
      return poller.reads - before;
    };
    // the first tick reads (nothing seen yet), then a quiet node reads once per 5 s
    expect(await ticks(1)).toBe(1);
    expect(await ticks(4)).toBe(0);
    expect(await ticks(1)).toBe(1);
    // records arriving: a read at the next tick, which finds 40 suppressed
    recorder.stats.received += 3;
    expect(await ticks(1)).toBe(1);
    expect(recorder.stats.rateLimited).toBe(40);
    // the last read found some: read again though nothing arrived
    expect(await ticks(1)).toBe(1);
    // records lost at the socket are verdict logs flowing too
    recorder.stats.lostKernel += 1;
    expect(await ticks(1)).toBe(1);
    // then quiet again
    expect(await ticks(4)).toBe(0);
    expect(await ticks(1)).toBe(1);
    expect(recorder.stats.rateLimited).toBe(40);
  });

  it('reads by default with one nft process at nice 19, in the node namespace', async () => {
    const recorder = new FlowRecorder({ node: 'n', index: new FlowIndex() });
    const runner = new RecordingRunner().respondTo(['nft'], { stdout: counterJson(9) });
    const poller = new RateLimitedPoller({
      recorder,
      log: quiet,
      runner,
      netns: { name: 'node1' },
    });
    await poller.poll();
    expect(runner.requests).toEqual([
      expect.objectContaining({
        argv: ['nft', '-j', 'reset', 'counter', 'inet', 'podnet_netpol', 'log_limited'],
        netns: { name: 'node1' },
        nice: 19,
      }),
    ]);
    expect(recorder.stats.rateLimited).toBe(9);
  });

  it('running totals (readMode list) are turned into increments', async () => {
    const recorder = new FlowRecorder({ node: 'n', index: new FlowIndex() });
    const totals = [5, 12, 2];
    let k = 0;
    const poller = new RateLimitedPoller({
      recorder,
      log: quiet,
      readMode: 'list',
      read: async () => counterJson(totals[k++] as number),
    });
    for (let i = 0; i < 3; i++) await poller.poll();
    expect(recorder.stats.rateLimited).toBe(14);
  });
});

describe('flows.logRateLimit', () => {
  it('defaults to 1000/s and reaches the policy compiler; false turns it off', () => {
    const on = new AgentFlows({}, 'n', quiet);
    expect(on.compileOptions.logRateLimit).toEqual({ ...DEFAULT_LOG_RATE_LIMIT });
    expect(on.rateLimited).toBeDefined();
    const set = new AgentFlows({ logRateLimit: { rate: 50, burst: 10 } }, 'n', quiet);
    expect(set.compileOptions.logRateLimit).toEqual({ rate: 50, burst: 10 });
    const off = new AgentFlows({ logRateLimit: false }, 'n', quiet);
    expect(off.compileOptions.logRateLimit).toBe(false);
    expect(off.rateLimited).toBeUndefined();
  });

  it.each([
    [{ logRateLimit: { rate: 200 } }, { logRateLimit: { rate: 200 } }],
    [{ logRateLimit: { rate: 200, burst: 50 } }, { logRateLimit: { rate: 200, burst: 50 } }],
    [{ logRateLimit: false }, { logRateLimit: false }],
  ])('parses %j', (input, want) => {
    expect(parseFlowConfig(input)).toEqual(want);
  });

  it.each([
    [{ logRateLimit: true }, /config\.flows\.logRateLimit: want/],
    [{ logRateLimit: {} }, /config\.flows\.logRateLimit\.rate: required/],
    [{ logRateLimit: { rate: 0 } }, /config\.flows\.logRateLimit\.rate: want an integer/],
    [{ logRateLimit: { rate: 10, burst: -1 } }, /config\.flows\.logRateLimit\.burst/],
    [{ logRateLimit: { rate: 10, per: 's' } }, /config\.flows\.logRateLimit\.per: unknown field/],
  ])('refuses %j', (input, err) => {
    expect(() => parseFlowConfig(input)).toThrow(err);
  });
});
