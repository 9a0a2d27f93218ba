import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileServices, ServiceLbError } from '../src/index.js';
import { arbitraries } from './arbitraries.js';

const { service, slice } = arbitraries(20);
import { NODE } from './fixtures.js';

describe('compileServices on arbitrary input', () => {
  it('either compiles or throws a ServiceLbError, never anything else', () => {
    fc.assert(
      fc.property(
        fc.array(service, { maxLength: 3 }),
        fc.array(slice, { maxLength: 3 }),
        (services, endpointSlices) => {
          try {
            const r = compileServices(
              { services: services as never, endpointSlices: endpointSlices as never },
              NODE,
            );
            expect(r.tables).toHaveLength(2);
          } catch (e) {
            if (!ServiceLbError.isInstance(e)) throw e;
            expect(e.message).toMatch(/is invalid|want/);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
