import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fifoRoundTrip } from '../src/fifo-transport.js';
import { REPLY_SLOTS } from '../src/protocol.js';

const fake = fileURLToPath(new URL('./fixtures/fake-fifo-agent.mjs', import.meta.url));

describe('fifoRoundTrip against a fake agent in another process', () => {
  let dir: string;
  let socket: string;
  let agent: ChildProcess | undefined;
  const request = (id: string) => ({
    id,
    env: { CNI_COMMAND: 'ADD' },
    stdin: '{"cniVersion":"1.1.0"}',
  });
  const start = async (mode: string) => {
    agent = spawn(process.execPath, [fake, socket, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(agent.stdout!, 'data');
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'podnet-fifo-'));
    socket = join(dir, 'agent.sock');
    mkdirSync(`${socket}.replies`, { mode: 0o700 });
    const slots = Array.from({ length: REPLY_SLOTS }, (_, k) => `${socket}.replies/${k}`);
    execFileSync('mkfifo', ['-m', '0600', `${socket}.fifo`, ...slots]);
  });
  afterEach(() => {
    agent?.kill('SIGKILL');
    agent = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets the answer for its own id and frees its slot', async () => {
    await start('answer');
    expect(fifoRoundTrip(socket, request('a-1'), 10_000)).toEqual({
      kind: 'answer',
      response: { exitCode: 0, stdout: 'ADD ok\n' },
    });
    expect(readdirSync(`${socket}.replies`).filter((f) => f.endsWith('.lock'))).toEqual([]);
  });

  it('skips a frame left for another id in its slot', async () => {
    await start('stale-first');
    const r = fifoRoundTrip(socket, request('b-1'), 10_000);
    expect(r).toEqual({ kind: 'answer', response: { exitCode: 0, stdout: 'ADD ok\n' } });
  });

  it('times out when the agent reads but does not answer', async () => {
    await start('silent');
    expect(fifoRoundTrip(socket, request('c-1'), 300)).toEqual({ kind: 'timeout' });
  });

  it('turns to the socket when the agent replaced its reply FIFOs (a restart)', async () => {
    await start('silent');
    const d = `${socket}.replies`;
    const fifos = Array.from({ length: REPLY_SLOTS }, (_, k) => `${d}/${k}`).join(' ');
    // once the request reached the agent, the "restarted agent" replaces the FIFOs
    const replace = `until [ -e ${socket}.seen ]; do sleep 0.05; done; rm -rf ${d}; mkdir ${d}; mkfifo ${fifos}`;
    spawn('sh', ['-c', replace], { stdio: 'ignore' });
    // without the check it would wait out the 20 s and answer 'timeout'
    expect(fifoRoundTrip(socket, request('r-1'), 20_000)).toEqual({ kind: 'socket', sent: true });
  }, 30_000);

  it('turns to the socket when the agent stops reading, and when no agent or slot is there', async () => {
    await start('silent');
    // fifoRoundTrip blocks this process, so the agent is killed by another one meanwhile
    const pid = agent!.pid!;
    spawn('sh', ['-c', `until [ -e ${socket}.seen ]; do sleep 0.05; done; kill -9 ${pid}`], {
      stdio: 'ignore',
    });
    expect(fifoRoundTrip(socket, request('d-1'), 20_000)).toEqual({ kind: 'socket', sent: true });
    expect(fifoRoundTrip(socket, request('d-2'), 20_000)).toEqual({ kind: 'socket', sent: false });
    rmSync(`${socket}.replies`, { recursive: true });
    expect(fifoRoundTrip(socket, request('d-3'), 20_000)).toEqual({ kind: 'socket', sent: false });
  }, 30_000);
});
