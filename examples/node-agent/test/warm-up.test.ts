import { RecordingRunner } from '@podnet/host/testing';
import { describe, expect, it } from 'vitest';
import { warmUpEventPath } from '../src/warm-up.js';

/** The nft scripts a recording runner received, in order. */
const scripts = (r: RecordingRunner) =>
  r.requests.filter((q) => q.argv.includes('nft')).map((q) => q.stdin ?? '');

describe('warmUpEventPath', () => {
  it('runs each kind of event through the incremental paths of both syncers, after one full load each', async () => {
    const runner = new RecordingRunner();
    const w = await warmUpEventPath({ nodeName: 'node-a', rounds: 2, runner });
    expect(w.events).toBe(10);
    const all = scripts(runner);
    // one full load per table: the services table and the policy table, each replaced whole
    const fullServices = all.filter((s) => s.includes('delete table ip podnet-svc'));
    const fullPolicies = all.filter((s) => s.includes('delete table inet podnet_netpol'));
    expect(fullServices).toHaveLength(1);
    expect(fullPolicies).toHaveLength(1);
    const partial = all.filter((s) => !fullServices.includes(s) && !fullPolicies.includes(s));
    // the second endpoint turning ready and back, the new Service in and out (partial updates of
    // the services table, never a reload)
    expect(partial.filter((s) => s.includes('192.0.2.11')).length).toBeGreaterThanOrEqual(2);
    expect(partial.filter((s) => s.includes('198.51.100.11')).length).toBeGreaterThanOrEqual(2);
    // the pod label change and the policy edit (port 9000), incremental in the policy table
    expect(partial.some((s) => s.includes('inet podnet_netpol') && s.includes('192.0.2.12'))).toBe(
      true,
    );
    expect(partial.some((s) => s.includes('inet podnet_netpol') && /\b9000\b/.test(s))).toBe(true);
  });
});
