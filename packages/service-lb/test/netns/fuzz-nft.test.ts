import { createTestNet, type TestNet } from '@podnet/host/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileServices, renderRuleset, ServiceLbError } from '../../src/index.js';
import { arbitraries } from '../arbitraries.js';
import { NODE } from '../fixtures.js';

const { service, slice } = arbitraries(1);
let net: TestNet;
let ns: string;
beforeAll(async () => {
  net = createTestNet();
  ns = await net.ns('fuzz');
});
afterAll(() => net?.cleanup());

describe('arbitrary Services in a real kernel', () => {
  it('every ruleset the compiler accepts passes nft -c -f', async () => {
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(service, { minLength: 1, maxLength: 3 }),
        fc.array(slice, { maxLength: 3 }),
        async (services, endpointSlices) => {
          let text: string;
          try {
            text = renderRuleset(
              compileServices(
                { services: services as never, endpointSlices: endpointSlices as never },
                NODE,
              ),
            );
          } catch (e) {
            if (ServiceLbError.isInstance(e)) return;
            throw e;
          }
          await net.host(ns).nftCheck(text);
          checked++;
        },
      ),
      { numRuns: 150 },
    );
    expect(checked).toBeGreaterThan(30);
  });
});
