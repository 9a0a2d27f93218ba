import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PluginHandlers } from '@podnet/cni-spec';
import { MAX_REQUEST_BYTES } from '@podnet/example-cni-plugin/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { REPLY_SLOTS, serveCni } from '../src/server.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SHIM = join(REPO, 'examples/cni-plugin/src/bin/podnet.ts');

/** Execs the shim (from its sources) as a runtime would: CNI_* env, config on stdin. */
function execShim(
  env: Record<string, string>,
  stdin: string,
): Promise<{ exitCode: number; json: Record<string, unknown> | undefined; out: string }> {
  return new Promise((done) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.NODE_EXTRA_CA_CERTS;
    const child = execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', SHIM],
      { env: childEnv, cwd: REPO, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(stdout) as Record<string, unknown>;
        } catch {}
        done({ exitCode: err ? ((err.code as number) ?? 1) : 0, json, out: stdout + stderr });
      },
    );
    child.stdin?.on('error', () => {});
    child.stdin?.end(stdin);
  });
}

/** Sends raw bytes over the socket and reads until the agent closes: its answer, if any. */
function overSocket(socket: string, data: string): Promise<string> {
  return new Promise((done) => {
    const c = createConnection(socket);
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      got += d;
    });
    c.on('error', () => {});
    c.on('close', () => done(got));
    c.write(data, () => c.end());
  });
}

describe('serveCni', () => {
  let dir: string;
  let server: Server | undefined;
  const log = createLogger({ write: () => {} });
  let calls: string[];
  // handlers that record what reached them and succeed
  const handlers: PluginHandlers = {
    add(ctx) {
      calls.push(`ADD ${ctx.containerId}`);
      return { cniVersion: '1.1.0', interfaces: [], ips: [] };
    },
    del(ctx) {
      calls.push(`DEL ${ctx.containerId}`);
    },
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'podnet-serve-'));
    calls = [];
  });
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const conf = (socketPath: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'podnet',
      type: 'podnet',
      socket: socketPath,
      ...extra,
    });
  const env = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'ctr-1',
    CNI_NETNS: '/proc/self/ns/net',
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin',
  };

  it('removes a reply-slot lock once it is older than replyLockStaleMs, and only then', async () => {
    const socketPath = join(dir, 'agent.sock');
    server = await serveCni({
      socketPath,
      handlers,
      log,
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

  it('answers a request over its limit with code 7 naming the limit, not a closed connection', async () => {
    const socketPath = join(dir, 'agent.sock');
    server = await serveCni({ socketPath, handlers, log });
    const big = `{"v":1,"env":{},"stdin":"${'x'.repeat(MAX_REQUEST_BYTES)}"}\n`;
    const answer = await overSocket(socketPath, big);
    expect(answer, 'the agent closed the connection without an answer').not.toBe('');
    const frame = JSON.parse(answer) as { exitCode: number; stdout: string };
    expect(frame.exitCode).toBe(1);
    const err = JSON.parse(frame.stdout) as { code: number; msg: string };
    expect(err.code).toBe(7);
    expect(err.msg).toContain(String(MAX_REQUEST_BYTES));
    expect(calls).toEqual([]);
  }, 30_000);

  it("refuses bad input before its handlers run (exec'd shim): code 4 naming the variable, 7 the field", async () => {
    const socketPath = join(dir, 'agent.sock');
    server = await serveCni({ socketPath, handlers, log });
    writeFileSync(join(dir, 'plain-file'), '');
    mkdirSync(join(dir, 'a-directory'));
    const cases: [Record<string, string>, string, string][] = [
      [{ CNI_IFNAME: 'eth0;rm' }, 'CNI_IFNAME', '"eth0;rm"'],
      [{ CNI_NETNS: join(dir, 'plain-file') }, 'CNI_NETNS', 'a regular file'],
      [{ CNI_NETNS: join(dir, 'a-directory') }, 'CNI_NETNS', 'a directory'],
      [{ CNI_CONTAINERID: 'c'.repeat(10_000) }, 'CNI_CONTAINERID', 'at most 128'],
    ];
    for (const [bad, variable, detail] of cases) {
      const r = await execShim({ ...env, ...bad }, conf(socketPath));
      expect(r.json, r.out).toMatchObject({ code: 4 });
      expect(String(r.json?.msg)).toContain(variable);
      expect(String(r.json?.details)).toContain(detail);
    }
    const long = await execShim(env, conf(socketPath, { name: 'n'.repeat(5000) }));
    expect(long.json, long.out).toMatchObject({ code: 7, cniVersion: '1.0.0' });
    expect(String(long.json?.msg)).toContain('$.name');
    for (const timeoutMs of [-1, 'x']) {
      const r = await execShim(env, conf(socketPath, { timeoutMs }));
      expect(r.json, r.out).toMatchObject({ code: 7, cniVersion: '1.0.0' });
      expect(String(r.json?.msg)).toContain('timeoutMs');
    }
    expect(calls).toEqual([]);
  }, 60_000);

  it("the exec'd shim answers a config over the limit with code 7, not 11 (retry forever)", async () => {
    const socketPath = join(dir, 'agent.sock');
    server = await serveCni({ socketPath, handlers, log });
    const small = await execShim(env, conf(socketPath));
    expect(small.exitCode, small.out).toBe(0);
    const r = await execShim(env, conf(socketPath, { pad: 'x'.repeat(MAX_REQUEST_BYTES) }));
    expect(r.exitCode, r.out).toBe(1);
    expect(r.json).toMatchObject({ code: 7, cniVersion: '1.0.0' });
    expect(String(r.json?.msg)).toContain(String(MAX_REQUEST_BYTES));
    expect(calls).toEqual(['ADD ctr-1']);
  }, 30_000);
});
