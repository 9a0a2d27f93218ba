import {
  decodeRequest,
  earlyRequestPath as shimEarlyRequestPath,
  REPLY_SLOTS as SHIM_REPLY_SLOTS,
  SHIM_PROTOCOL_VERSION as SHIM_VERSION,
  replyDir,
} from '@podnet/example-cni-plugin';
import { describe, expect, it } from 'vitest';
import {
  decodeShimRequest,
  earlyRequestPath,
  REPLY_SLOTS,
  SHIM_PROTOCOL_VERSION,
} from '../src/server.js';

// The agent decodes the shim's frames with its own decoder (it keeps only CNI_* variables); these
// checks hold the two sides of the protocol to the same revision, paths and limits.
describe('the agent and the shim speak the same protocol', () => {
  it('agree on the revision, the FIFO paths and the number of reply slots', () => {
    expect(SHIM_PROTOCOL_VERSION).toBe(SHIM_VERSION);
    expect(REPLY_SLOTS).toBe(SHIM_REPLY_SLOTS);
    expect(earlyRequestPath('/run/podnet/agent.sock')).toBe(
      shimEarlyRequestPath('/run/podnet/agent.sock'),
    );
    expect(replyDir('/run/podnet/agent.sock')).toBe('/run/podnet/agent.sock.replies');
  });

  it('accept and refuse the same id and reply fields', () => {
    const frame = (extra: Record<string, unknown>) =>
      JSON.stringify({ v: 1, env: { CNI_COMMAND: 'ADD' }, stdin: '{}', ...extra });
    const cases: Record<string, unknown>[] = [
      {},
      { id: 'a.b-c_1' },
      { id: '' },
      { id: 'x'.repeat(65) },
      { id: 'has space' },
      { id: 7 },
      { id: 'ok', reply: 0 },
      { id: 'ok', reply: REPLY_SLOTS - 1 },
      { id: 'ok', reply: REPLY_SLOTS },
      { id: 'ok', reply: -1 },
      { id: 'ok', reply: 1.5 },
      { id: 'ok', reply: '3' },
    ];
    for (const c of cases) {
      const shim = (() => {
        try {
          const r = decodeRequest(frame(c));
          return { id: r.id, reply: r.reply };
        } catch {
          return 'refused';
        }
      })();
      const agent = (() => {
        try {
          const r = decodeShimRequest(frame(c));
          return { id: r.id, reply: r.reply };
        } catch {
          return 'refused';
        }
      })();
      expect(agent, JSON.stringify(c)).toEqual(shim);
    }
  });
});
