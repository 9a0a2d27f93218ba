import { Host } from '@podnet/host';
import { RecordingRunner } from '@podnet/host/testing';
import { describe, expect, it } from 'vitest';
import {
  compileServices,
  planConntrackCleanup,
  renderRuleset,
  ServiceLbError,
  ServiceSyncer,
  type ServiceState,
} from '../src/index.js';
import { makeEndpointSlice, makeService, syntheticCluster } from '../src/testing/index.js';
import { FEATURE_CASES, NODE } from './fixtures.js';
import { eventsBetween, mutations } from './mutations.js';

function dnsState(ips: string[], trigger?: Date): ServiceState {
  return {
    services: [
      makeService('kube-system', 'dns', {
        clusterIP: '10.96.0.10',
        ports: [{ name: 'dns', port: 53, protocol: 'UDP' }],
      }),
    ],
    endpointSlices: [
      makeEndpointSlice(
        'kube-system',
        'dns',
        ips.map((ip) => ({ ip })),
        [{ name: 'dns', port: 5353, protocol: 'UDP' }],
        {
          triggerTime: trigger,
        },
      ),
    ],
  };
}

function setup() {
  const runner = new RecordingRunner();
  const host = new Host({ runner, netns: { name: 'node-a' } });
  let now = Date.parse('2026-01-01T00:00:10Z');
  const syncer = new ServiceSyncer({ host, node: NODE, families: ['ip'], now: () => now });
  return { runner, syncer, advance: (ms: number) => (now += ms) };
}

describe('ServiceSyncer', () => {
  it('does a full sync first, then sends only the change; unchanged state sends nothing', async () => {
    const { runner, syncer } = setup();
    const first = await syncer.sync(dnsState(['10.244.0.5', '10.244.1.5']));
    expect(first).toMatchObject({ full: true, changedServices: 1, invalid: [] });
    expect(runner.requests[0]!.argv).toEqual(['nft', '-f', '-']);
    expect(runner.requests[0]!.netns).toEqual({ name: 'node-a' });
    expect(runner.requests[0]!.stdin).toMatch(
      /^add table ip podnet-svc\ndelete table ip podnet-svc\nadd table ip podnet-svc\n/,
    );
    runner.clear();

    const same = await syncer.sync(dnsState(['10.244.0.5', '10.244.1.5']));
    expect(same).toMatchObject({ full: false, operations: 0, changedServices: 0 });
    expect(runner.requests).toEqual([]);

    const removed = await syncer.sync(dnsState(['10.244.0.5']));
    expect(removed.full).toBe(false);
    expect(removed.operations).toBeLessThanOrEqual(10);
    const [nft, ...conntrack] = runner.requests;
    expect(nft!.stdin).not.toContain('add table');
    expect(nft!.stdin).toBe(
      [
        'delete element ip podnet-svc lb-endpoints { 10.96.0.10 . udp . 53 . 1 }',
        'delete element ip podnet-svc lb-2 { 10.96.0.10 . udp . 53 }',
        'delete element ip podnet-svc hairpin-endpoints { 10.244.1.5 . 10.244.1.5 }',
        'add element ip podnet-svc lb-1 { 10.96.0.10 . udp . 53 }',
        '',
      ].join('\n'),
    );
    expect(conntrack.map((r) => r.argv.join(' '))).toEqual([
      'conntrack -D -f ipv4 -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --dst-nat 10.244.1.5',
    ]);
    expect(conntrack[0]!.netns).toEqual({ name: 'node-a' });
  });

  it('after a rejected transaction reports SYNC_FAILED, counts it and resyncs fully', async () => {
    const { runner, syncer } = setup();
    await syncer.sync(dnsState(['10.244.0.5']));
    let failing = true;
    runner.respond((r) =>
      failing && r.argv[0] === 'nft'
        ? { code: 1, stderr: '/dev/stdin:1:1-10: Error: boom' }
        : undefined,
    );
    const err = await syncer.sync(dnsState(['10.244.0.6'])).catch((e) => e);
    expect(ServiceLbError.isInstance(err)).toBe(true);
    expect(err.code).toBe('SYNC_FAILED');
    expect(syncer.metrics().syncFailuresTotal).toBe(1);
    expect(syncer.programmed()).toBeUndefined();
    failing = false;
    const again = await syncer.sync(dnsState(['10.244.0.6']));
    expect(again.full).toBe(true);
    expect(syncer.programmed()!.tables[0]!.elements).toContainEqual({
      set: 'lb-endpoints',
      key: '10.96.0.10 . udp . 53 . 0',
      value: '10.244.0.6 . 5353',
    });
  });

  it('update() applies watch events alone, and mixed with sync(), to the same result', async () => {
    for (const seed of [11, 12, 13]) {
      const { syncer } = setup();
      let prev: ServiceState = { services: [], endpointSlices: [] };
      let step = 0;
      for (const { state, valid, what } of mutations(seed, 60)) {
        const r =
          step++ % 5 === 4
            ? await syncer.sync(state)
            : await syncer.update(eventsBetween(prev, state));
        prev = state;
        expect(r.full, `seed ${seed}, ${what}`).toBe(step === 1);
        const expected = renderRuleset(compileServices(valid, NODE, { families: ['ip'] }));
        expect(renderRuleset(syncer.programmed()!), `seed ${seed}, ${what}`).toBe(expected);
        expect(r.invalid.length, `seed ${seed}, ${what}`).toBe(
          state.services.length - valid.services.length,
        );
      }
    }
  });

  it('update() recompiles only the Services the events name', async () => {
    const { runner, syncer } = setup();
    const state = syntheticCluster(200, 3);
    await syncer.sync(state);
    runner.clear();
    const slice = structuredClone(state.endpointSlices[7]!);
    slice.endpoints!.pop();
    const r = await syncer.update({ endpointSlices: [slice] });
    expect(r).toMatchObject({ full: false, changedServices: 1 });
    expect(r.operations).toBeLessThanOrEqual(4);
    const gone = await syncer.update({ deletedServices: [state.services[8]!] });
    expect(gone).toMatchObject({ full: false, changedServices: 1 });
    expect(runner.requests.at(-1)!.stdin).toContain('delete element ip podnet-svc cluster-ips');
  });

  it('setNode recompiles every Service with the new node facts', async () => {
    const { syncer } = setup();
    const state = FEATURE_CASES['prefer-close']!;
    await syncer.sync(state);
    const slots = () =>
      syncer.programmed()!.tables[0]!.elements.filter((e) => e.set === 'lb-endpoints').length;
    expect(slots()).toBe(2);
    syncer.setNode({ ...NODE, zone: 'zone-c' });
    expect((await syncer.sync(state)).full).toBe(true);
    expect(slots()).toBe(3);
  });

  it('keeps a set element two Services share until the last of them drops it', async () => {
    const { runner, syncer } = setup();
    const svc = (name: string, cip: string) =>
      makeService('default', name, { clusterIP: cip, ports: [{ name: 'http', port: 80 }] });
    const slice = (name: string, ips: string[]) =>
      makeEndpointSlice(
        'default',
        name,
        ips.map((ip) => ({ ip })),
        [{ name: 'http', port: 8080 }],
      );
    const services = [svc('a', '10.96.0.1'), svc('b', '10.96.0.2')];
    await syncer.sync({
      services,
      endpointSlices: [slice('a', ['10.244.0.5']), slice('b', ['10.244.0.5'])],
    });
    runner.clear();
    await syncer.sync({ services, endpointSlices: [slice('a', []), slice('b', ['10.244.0.5'])] });
    expect(runner.requests[0]!.stdin).not.toContain('hairpin-endpoints');
    runner.clear();
    await syncer.sync({ services, endpointSlices: [slice('a', []), slice('b', [])] });
    expect(runner.requests[0]!.stdin).toContain(
      'delete element ip podnet-svc hairpin-endpoints { 10.244.0.5 . 10.244.0.5 }',
    );
    runner.clear();
    await syncer.sync({ services, endpointSlices: [slice('a', ['10.244.0.5']), slice('b', [])] });
    expect(runner.requests[0]!.stdin).toContain(
      'add element ip podnet-svc hairpin-endpoints { 10.244.0.5 . 10.244.0.5 }',
    );
  });

  it('after any sequence of changes holds exactly what compiling the state afresh gives', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { syncer } = setup();
      let partial = 0;
      for (const { state, valid, what } of mutations(seed, 60)) {
        const r = await syncer.sync(state);
        if (!r.full) partial++;
        const expected = renderRuleset(compileServices(valid, NODE, { families: ['ip'] }));
        expect(renderRuleset(syncer.programmed()!), `seed ${seed}, ${what}`).toBe(expected);
        expect(r.invalid.length, `seed ${seed}, ${what}`).toBe(
          state.services.length - valid.services.length,
        );
      }
      expect(partial).toBe(60);
    }
  });

  it('skips an invalid Service, reports it, and programs the rest', async () => {
    const { syncer } = setup();
    const state = dnsState(['10.244.0.5']);
    const bad = makeService('default', 'bad', { clusterIP: '10.96.0.11', ports: [{ port: 0 }] });
    const r = await syncer.sync({ ...state, services: [...state.services, bad] });
    expect(r.invalid).toEqual([
      {
        object: 'default/bad',
        error: expect.objectContaining({ code: 'INVALID_SERVICE', field: 'spec.ports[0].port' }),
      },
    ]);
    expect(
      syncer.programmed()!.tables[0]!.elements.some((e) => e.key.startsWith('10.96.0.10')),
    ).toBe(true);
  });

  it('drops a bad extra EndpointSlice alone: the Service keeps answering, the slice is reported', async () => {
    const { runner, syncer } = setup();
    const good = dnsState(['10.244.0.5']);
    const bad = makeEndpointSlice(
      'kube-system',
      'dns',
      [{ ip: '10.244.0.9' }],
      [{ name: 'dns', port: 99999, protocol: 'UDP' }],
      { name: 'dns-bad' },
    );
    const state = { ...good, endpointSlices: [...good.endpointSlices, bad] };
    const expected = renderRuleset(compileServices(good, NODE, { families: ['ip'] }));
    const reported = [
      {
        object: 'kube-system/dns-bad',
        error: expect.objectContaining({
          code: 'INVALID_ENDPOINT_SLICE',
          object: 'kube-system/dns-bad',
          field: 'ports[0].port',
          value: 99999,
        }),
      },
    ];

    const first = await syncer.sync(state);
    expect(first.invalid).toEqual(reported);
    expect(renderRuleset(syncer.programmed()!)).toBe(expected);
    expect(syncer.programmed()!.tables[0]!.elements).toContainEqual({
      set: 'lb-endpoints',
      key: '10.96.0.10 . udp . 53 . 0',
      value: '10.244.0.5 . 5353',
    });

    // Unchanged input: nothing sent, the drop still reported (from the cached entry).
    runner.clear();
    const again = await syncer.sync({ ...state, endpointSlices: [...state.endpointSlices] });
    expect(again).toMatchObject({ operations: 0, invalid: reported });
    expect(runner.requests).toEqual([]);

    // Arriving as a watch event onto a working Service: the Service stays programmed.
    const fresh = setup().syncer;
    await fresh.sync(good);
    const added = await fresh.update({ endpointSlices: [bad] });
    expect(added).toMatchObject({ changedServices: 1, invalid: reported });
    expect(renderRuleset(fresh.programmed()!)).toBe(expected);
    const gone = await fresh.update({ deletedEndpointSlices: [bad] });
    expect(gone.invalid).toEqual([]);
    expect(renderRuleset(fresh.programmed()!)).toBe(expected);
  });

  it('drops only the bad ports and endpoints of a slice, and the whole slice for a slice-wide fault', async () => {
    const { syncer } = setup();
    const good = dnsState(['10.244.0.5', '10.244.0.6']);
    const mixed = structuredClone(good.endpointSlices[0]!);
    mixed.ports!.push({ name: 'metrics', port: 70000, protocol: 'TCP' });
    mixed.endpoints!.splice(1, 0, { addresses: [] }, { addresses: ['fd00::7'] });
    const wrongType = makeEndpointSlice('kube-system', 'dns', [{ ip: '10.244.0.8' }], [], {
      name: 'dns-other',
    });
    wrongType.addressType = 'IPv5';
    const r = await syncer.sync({ ...good, endpointSlices: [mixed, wrongType] });
    expect(renderRuleset(syncer.programmed()!)).toBe(
      renderRuleset(compileServices(good, NODE, { families: ['ip'] })),
    );
    expect(r.invalid.map((i) => [i.object, i.error.code, i.error.field])).toEqual([
      ['kube-system/dns-ipv4', 'INVALID_ENDPOINT_SLICE', 'ports[1].port'],
      ['kube-system/dns-ipv4', 'INVALID_ENDPOINT_SLICE', 'endpoints[1].addresses'],
      ['kube-system/dns-ipv4', 'INVALID_ENDPOINT_SLICE', 'endpoints[2].addresses[0]'],
      ['kube-system/dns-other', 'INVALID_ENDPOINT_SLICE', 'addressType'],
    ]);
    expect(r.invalid[0]!.error.message).toBe(
      'EndpointSlice kube-system/dns-ipv4: ports[1].port 70000 is invalid: want an integer from 1 to 65535',
    );
  });

  it('keeps kube-proxy-named metrics, including network programming latency from the trigger time', async () => {
    const { syncer, advance } = setup();
    await syncer.sync(dnsState(['10.244.0.5']));
    advance(2000);
    await syncer.sync(
      dnsState(['10.244.0.5', '10.244.0.6'], new Date(Date.parse('2026-01-01T00:00:10.500Z'))),
    );
    const m = syncer.metrics();
    expect(m.syncDuration.count).toBe(2);
    expect(m.fullSyncDuration.count).toBe(1);
    expect(m.partialSyncDuration.count).toBe(1);
    expect(m.networkProgrammingDuration).toMatchObject({ count: 1, sum: 1.5 });
    expect(m.endpointChangesTotal).toBe(2);
    const text = syncer.metricsText();
    for (const name of [
      'kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.001"}',
      'kubeproxy_network_programming_duration_seconds_count 1',
      'kubeproxy_sync_proxy_rules_nftables_sync_failures_total 0',
      'kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy="internal"} 0',
      'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
    ]) {
      expect(text).toContain(name);
    }
  });

  it('keeps a single-endpoint change small at scale (1,000 Services)', async () => {
    const { runner, syncer } = setup();
    const state = syntheticCluster(1000, 3);
    await syncer.sync(state);
    runner.clear();
    const slices = [...state.endpointSlices];
    const s = structuredClone(slices[500]!);
    s.endpoints!.pop();
    slices[500] = s;
    const r = await syncer.sync({ services: state.services, endpointSlices: slices });
    expect(r).toMatchObject({ full: false, changedServices: 1 });
    expect(r.operations).toBeLessThanOrEqual(10);
    expect(runner.requests).toHaveLength(1);
  });

  it('counts Local-policy service ports that lack local endpoints', async () => {
    const { syncer } = setup();
    await syncer.sync({
      services: [
        makeService('default', 'web', {
          clusterIP: '10.96.0.10',
          internalTrafficPolicy: 'Local',
          ports: [{ name: 'http', port: 80 }],
        }),
      ],
      endpointSlices: [
        makeEndpointSlice(
          'default',
          'web',
          [{ ip: '10.244.1.5', nodeName: 'node-b' }],
          [{ name: 'http', port: 8080 }],
        ),
      ],
    });
    expect(syncer.metrics().noLocalEndpoints).toEqual({ internal: 1, external: 0 });
  });
});

describe('planConntrackCleanup', () => {
  const port = {
    family: 'ip' as const,
    vips: ['10.96.0.10', '198.51.100.7'],
    port: 53,
    nodePort: 30053,
  };
  it('deletes entries DNATed to a removed endpoint, for every VIP and the NodePort', () => {
    expect(
      planConntrackCleanup(
        [{ ...port, endpoints: ['10.244.0.5:5353', '10.244.1.5:5353'] }],
        [{ ...port, endpoints: ['10.244.0.5:5353'] }],
      ),
    ).toEqual([
      { family: 'ip', origDst: '10.96.0.10', origPortDst: 53, dstNat: '10.244.1.5' },
      { family: 'ip', origDst: '198.51.100.7', origPortDst: 53, dstNat: '10.244.1.5' },
      { family: 'ip', origPortDst: 30053, dstNat: '10.244.1.5' },
    ]);
  });
  it('flushes a VIP that gets its first endpoint, and nothing when endpoints only grow', () => {
    expect(
      planConntrackCleanup(
        [{ ...port, endpoints: [] }],
        [{ ...port, endpoints: ['10.244.0.5:5353'] }],
      ),
    ).toEqual([
      { family: 'ip', origDst: '10.96.0.10', origPortDst: 53 },
      { family: 'ip', origDst: '198.51.100.7', origPortDst: 53 },
    ]);
    expect(
      planConntrackCleanup(
        [{ ...port, endpoints: ['10.244.0.5:5353'] }],
        [{ ...port, endpoints: ['10.244.0.5:5353', '[fd00::1]:53'] }],
      ),
    ).toEqual([]);
  });
});
