import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../src/config.js';
import { dnsProcessArgv } from '../src/dns-process.js';
import { withDns } from './config-fixture.js';

const config = { ...withDns({}), nodeName: 'n1' };

describe('dnsProcessArgv', () => {
  it('starts podnet-dns with the Node flags its #! line gives it (a 1 MB young generation)', () => {
    const argv = dnsProcessArgv(parseAgentConfig(config));
    expect(argv[0]).toBe(process.execPath);
    expect(argv[1]).toBe('--max-semi-space-size=1');
    // the flags go to node, before the script
    expect(argv.findIndex((a) => /podnet-dns\.(js|ts)$/.test(a))).toBeGreaterThan(1);
  });
});
