import { createTestNet, type TestNet } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compileServices,
  diffRulesets,
  type Ruleset,
  renderRuleset,
  renderTransaction,
  ServiceSyncer,
  type ServiceState,
} from '../../src/index.js';
import { FEATURE_CASES, NODE } from '../fixtures.js';
import { eventsBetween, mutations } from '../mutations.js';

let net: TestNet;
let incremental: string;
let fresh: string;

beforeAll(async () => {
  net = createTestNet();
  incremental = await net.ns('inc');
  fresh = await net.ns('fresh');
});
afterAll(() => net?.cleanup());

/** `nft -j list ruleset` with handles dropped and set elements sorted, as sorted JSON lines. */
async function listing(ns: string): Promise<string[]> {
  const out = await net
    .host(ns)
    .nftJson<{ nftables: Array<Record<string, Record<string, unknown>>> }>(['list', 'ruleset']);
  return out.nftables
    .filter((o) => !('metainfo' in o))
    .map((o) => {
      const [kind, body] = Object.entries(o)[0]!;
      const { handle: _h, ...rest } = body as Record<string, unknown>;
      if (Array.isArray(rest.elem)) rest.elem = rest.elem.map((e) => JSON.stringify(e)).sort();
      return `${kind} ${JSON.stringify(rest)}`;
    })
    .sort();
}

describe('generated rulesets in a real kernel', () => {
  for (const [name, state] of Object.entries(FEATURE_CASES)) {
    it(`${name} passes nft -c -f`, async () => {
      await net.host(fresh).nftCheck(renderRuleset(compileServices(state, NODE)));
    });
  }

  it('applying each diff in turn yields exactly what a fresh full apply yields', async () => {
    let prev: Ruleset | undefined;
    const cases = Object.entries(FEATURE_CASES);
    for (const [name, state] of [...cases, ...cases.reverse()]) {
      const next = compileServices(state, NODE);
      const tx = diffRulesets(prev, next);
      expect(tx.full, name).toBe(prev === undefined);
      await net.host(incremental).nftApply(renderTransaction(tx));
      await net.host(fresh).nftApply(renderRuleset(next));
      expect(await listing(incremental), name).toEqual(await listing(fresh));
      prev = next;
    }
  });

  it('a rejected transaction changes nothing', async () => {
    const before = await listing(fresh);
    const bad = `${renderRuleset(compileServices(FEATURE_CASES.nodeport!, NODE))}add rule ip podnet-svc services goto missing-chain\n`;
    await expect(net.host(fresh).nftApply(bad)).rejects.toMatchObject({ code: 'COMMAND_FAILED' });
    expect(await listing(fresh)).toEqual(before);
  });

  it("the syncer's incremental transactions (nft -f, session, watch events) leave the kernel exactly as a fresh full sync", async () => {
    const full = await net.ns('syncfull');
    const inc = await net.ns('syncinc');
    const sess = await net.ns('syncsess');
    const evt = await net.ns('syncevt');
    const viaFile = new ServiceSyncer({
      host: net.host(inc),
      node: NODE,
      conntrack: false,
    });
    const viaSession = new ServiceSyncer({
      host: net.host(sess),
      node: NODE,
      conntrack: false,
      session: true,
    });
    const viaEvents = new ServiceSyncer({
      host: net.host(evt),
      node: NODE,
      conntrack: false,
      session: true,
    });
    try {
      let partial = 0;
      let prev: ServiceState = { services: [], endpointSlices: [] };
      for (const { state, what } of mutations(7, 40)) {
        const a = await viaFile.sync(state);
        const b = await viaSession.sync(state);
        const c = await viaEvents.update(eventsBetween(prev, state));
        prev = state;
        if (!a.full && !b.full && !c.full) partial++;
        await new ServiceSyncer({ host: net.host(full), node: NODE, conntrack: false }).sync(state);
        const expected = await listing(full);
        expect(await listing(inc), what).toEqual(expected);
        expect(await listing(sess), what).toEqual(expected);
        expect(await listing(evt), what).toEqual(expected);
      }
      expect(partial).toBe(40);
    } finally {
      viaSession.close();
      viaEvents.close();
    }
  }, 180_000);

  it('warm() readies the session with a no-op: the kernel is left exactly as it was, and events go on partially', async () => {
    const ns = await net.ns('warm');
    const host = net.host(ns);
    const syncer = new ServiceSyncer({ host, node: NODE, conntrack: false, session: true });
    try {
      // before a full sync there is nothing to warm: no table appears
      expect(await syncer.warm()).toBe(false);
      expect(await listing(ns)).toEqual([]);
      const states = [...mutations(11, 3)];
      await syncer.sync(states[0]!.state);
      // another process loads a table beside it, as the policy table is loaded beside podnet's
      await host.nftApply('add table inet other\nadd chain inet other c\n');
      const before = await listing(ns);
      expect(await syncer.warm()).toBe(true);
      expect(await listing(ns)).toEqual(before);
      let prev = states[0]!.state;
      let step = 0;
      for (const { state, what } of states.slice(1)) {
        const r = await syncer.update(eventsBetween(prev, state));
        prev = state;
        expect(r.full, what).toBe(false);
        const fresh = await net.ns(`warmref${step++}`);
        await new ServiceSyncer({ host: net.host(fresh), node: NODE, conntrack: false }).sync(
          state,
        );
        await net.host(fresh).nftApply('add table inet other\nadd chain inet other c\n');
        expect(await listing(ns), what).toEqual(await listing(fresh));
      }
    } finally {
      syncer.close();
    }
  });

  it('a partial sync the kernel rejects (table changed behind its back) fails cleanly; the next sync is full', async () => {
    const ns = await net.ns('syncreject');
    for (const session of [false, true]) {
      const syncer = new ServiceSyncer({
        host: net.host(ns),
        node: NODE,
        conntrack: false,
        session,
      });
      try {
        const steps = [...mutations(3, 3)];
        await syncer.sync(steps[0]!.state);
        await net.host(ns).nftApply('flush set ip podnet-svc hairpin-endpoints\n');
        const state = {
          ...steps[0]!.state,
          endpointSlices: steps[0]!.state.endpointSlices.map((s) => ({ ...s, endpoints: [] })),
        };
        await expect(syncer.sync(state)).rejects.toMatchObject({ code: 'SYNC_FAILED' });
        const again = await syncer.sync(state);
        expect(again.full).toBe(true);
        const fresh = await net.ns(`syncrefresh${session ? 's' : 'f'}`);
        await new ServiceSyncer({ host: net.host(fresh), node: NODE, conntrack: false }).sync(
          state,
        );
        expect(await listing(ns)).toEqual(await listing(fresh));
      } finally {
        syncer.close();
      }
    }
  }, 60_000);
});
