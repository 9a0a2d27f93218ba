import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SHIM_TIMEOUT_MS, runShim } from '../src/index.js';
import { FakeAgent } from '../src/testing/index.js';

const env = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/run/netns/p',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  CNI_ARGS: 'K8S_POD_NAMESPACE=a;K8S_POD_NAME=b',
  HOME: '/root',
};

describe('runShim against a fake agent', () => {
  let dir: string;
  let agent: FakeAgent;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'podnet-shim-'));
    agent = new FakeAgent(join(dir, 's.sock'));
    await agent.start();
  });
  afterAll(async () => {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const conf = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'podnet',
      type: 'podnet',
      socket: join(dir, 's.sock'),
      ...extra,
    });

  it('forwards env and stdin and relays the answer', async () => {
    agent.behaviour = { exitCode: 0, stdout: '{"cniVersion":"1.1.0"}' };
    const r = await runShim({ env, stdin: conf() });
    expect(r).toEqual({ exitCode: 0, stdout: '{"cniVersion":"1.1.0"}' });
    expect(agent.requests.at(-1)?.env.CNI_ARGS).toBe('K8S_POD_NAMESPACE=a;K8S_POD_NAME=b');
    expect(agent.requests.at(-1)?.env).not.toHaveProperty('HOME');
    expect(agent.requests.at(-1)?.stdin).toBe(conf());
  });

  it('answers VERSION without the agent', async () => {
    const r = await runShim({
      env: { CNI_COMMAND: 'VERSION' },
      stdin: conf({ socket: '/nonexistent.sock' }),
    });
    expect(JSON.parse(r.stdout).supportedVersions).toContain('1.1.0');
  });

  it('maps agent down, a dropped connection and silence to CNI errors', async () => {
    const down = await runShim({ env, stdin: conf({ socket: join(dir, 'missing.sock') }) });
    expect(down.exitCode).toBe(1);
    expect(JSON.parse(down.stdout)).toMatchObject({ code: 11, cniVersion: '1.1.0' });
    const status = await runShim({
      env: { ...env, CNI_COMMAND: 'STATUS' },
      stdin: conf({ socket: join(dir, 'missing.sock') }),
    });
    expect(JSON.parse(status.stdout).code).toBe(50);
    agent.behaviour = 'close';
    expect(JSON.parse((await runShim({ env, stdin: conf() })).stdout).code).toBe(11);
    agent.behaviour = 'silent';
    const slow = await runShim({ env, stdin: conf({ timeoutMs: 200 }) });
    expect(JSON.parse(slow.stdout)).toMatchObject({ code: 11 });
    expect(JSON.parse(slow.stdout).msg).toContain('within 200 ms');
  });

  it.each([-1, 0, 1.5, 'x', '200', true, MAX_SHIM_TIMEOUT_MS + 1])(
    'refuses timeoutMs %j with code 7 naming the field, before asking the agent',
    async (timeoutMs) => {
      agent.behaviour = { exitCode: 0, stdout: 'ok' };
      const asked = agent.requests.length;
      const r = await runShim({ env, stdin: conf({ timeoutMs }) });
      expect(r.exitCode).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ code: 7, cniVersion: '1.1.0' });
      expect(JSON.parse(r.stdout).msg).toContain('timeoutMs');
      expect(agent.requests.length).toBe(asked);
    },
  );

  it('takes timeoutMs from 1 to one hour', async () => {
    agent.behaviour = { exitCode: 0, stdout: 'ok' };
    for (const timeoutMs of [1000, MAX_SHIM_TIMEOUT_MS]) {
      expect((await runShim({ env, stdin: conf({ timeoutMs }) })).exitCode).toBe(0);
    }
  });

  it('refuses a socket path longer than a unix socket address with code 7, not 11', async () => {
    const r = await runShim({ env, stdin: conf({ socket: `/run/${'s'.repeat(120)}.sock` }) });
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 7 });
    expect(JSON.parse(r.stdout).msg).toContain('socket');
  });

  it('rejects bad configurations with codes 6 and 7', async () => {
    expect(JSON.parse((await runShim({ env, stdin: '{' })).stdout).code).toBe(6);
    expect(
      JSON.parse((await runShim({ env, stdin: conf({ socket: 'relative' }) })).stdout).code,
    ).toBe(7);
    expect(JSON.parse((await runShim({ env, stdin: conf({ mode: 'weird' }) })).stdout).code).toBe(
      7,
    );
  });
});

describe('runShim against a server that answers garbage', () => {
  it('reports code 5', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podnet-shim-'));
    const server: Server = createServer((c) => c.end('not json\n'));
    await new Promise<void>((r) => server.listen(join(dir, 'g.sock'), r));
    const stdin = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'podnet',
      type: 'podnet',
      socket: join(dir, 'g.sock'),
    });
    const r = await runShim({ env, stdin });
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 5, cniVersion: '1.0.0' });
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
