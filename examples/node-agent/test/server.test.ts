import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PluginHandlers } from '@podnet/cni-spec';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { REPLY_SLOTS, serveCni } from '../src/server.js';

describe('serveCni: the FIFO side', () => {
  let dir: string;
  let server: Server | undefined;
  // no request is sent in this test: the handlers are never called
  const handlers = {} as PluginHandlers;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'podnet-serve-'));
  });
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('removes a reply-slot lock once it is older than replyLockStaleMs, and only then', async () => {
    const socketPath = join(dir, 'agent.sock');
    server = await serveCni({
      socketPath,
      handlers,
      log: createLogger({ write: () => {} }),
      replyLockStaleMs: 5_000,
    });
    const fresh = join(`${socketPath}.replies`, '1.lock');
    const stale = join(`${socketPath}.replies`, '2.lock');
    writeFileSync(fresh, '123');
    writeFileSync(stale, '456');
    const old = new Date(Date.now() - 60_000);
    utimesSync(stale, old, old);
    const until = Date.now() + 10_000;
    while (existsSync(stale) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(statSync(`${socketPath}.replies`).mode & 0o777).toBe(0o700);
    expect(REPLY_SLOTS).toBe(32);
  }, 15_000);
});
