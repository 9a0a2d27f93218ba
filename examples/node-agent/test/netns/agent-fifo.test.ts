import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { createTestNet, type TestNet } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLY_SLOTS } from '../../src/server.js';
import { startOneNode, type TestNode } from './node-kit.js';

interface Result {
  ips: { address: string }[];
}

/** One request over the socket, as the shim frames it; resolves to the decoded answer. */
function overSocket(socket: string, frame: string): Promise<{ exitCode: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let buf = '';
    c.setEncoding('utf8');
    c.on('error', reject);
    c.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\n')) {
        c.destroy();
        resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))));
      }
    });
    c.write(frame);
  });
}

describe('the agent takes shim requests on its FIFOs as well as on its socket', () => {
  let net: TestNet;
  let node: TestNode;
  const pods: Record<string, string> = {};
  const held = (id: string) =>
    readdirSync(join(node.config.stateDir, 'ipam', 'podnet')).filter(
      (f) =>
        /^\d+\.\d+\.\d+\.\d+$/.test(f) &&
        readFileSync(join(node.config.stateDir, 'ipam', 'podnet', f), 'utf8').startsWith(id),
    );

  beforeAll(async () => {
    net = createTestNet();
    ({ node } = await startOneNode(net, '192.168.51', {
      podCidrs: ['10.244.7.0/24'],
    }));
    for (const p of ['pa', 'pb', 'pc']) pods[p] = await net.ns(p);
  });
  afterAll(async () => {
    node?.cleanup();
    await net.cleanup();
  });

  it('makes the request FIFO and the reply FIFOs, private to root', () => {
    const fifo = statSync(`${node.config.socketPath}.fifo`);
    expect(fifo.isFIFO()).toBe(true);
    expect(fifo.mode & 0o777).toBe(0o600);
    const dir = `${node.config.socketPath}.replies`;
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const slots = readdirSync(dir);
    expect(slots).toHaveLength(REPLY_SLOTS);
    for (const s of slots) expect(statSync(join(dir, s)).isFIFO()).toBe(true);
  });

  it('the shim gets its answer through the FIFOs alone (the socket moved away)', async () => {
    const socket = node.config.socketPath;
    renameSync(socket, `${socket}.away`);
    try {
      const a = await node.cni('ADD', 'ctr-fifo', `/run/netns/${pods.pa}`);
      expect(a.code, a.stdout + a.stderr).toBe(0);
      const ip = (a.json as unknown as Result).ips[0]!.address.split('/')[0]!;
      expect(await net.ping(pods.pa!, '10.244.7.1')).toBe(true);
      expect(held('ctr-fifo')).toEqual([ip]);
      expect(readdirSync(`${socket}.replies`).filter((f) => f.endsWith('.lock'))).toEqual([]);
    } finally {
      renameSync(`${socket}.away`, socket);
    }
  });

  it('with every reply slot taken, the shim asks the socket and still succeeds', async () => {
    const dir = `${node.config.socketPath}.replies`;
    for (let k = 0; k < REPLY_SLOTS; k++)
      writeFileSync(join(dir, `${k}.lock`), String(process.pid));
    try {
      const b = await node.cni('ADD', 'ctr-sock', `/run/netns/${pods.pb}`);
      expect(b.code, b.stdout + b.stderr).toBe(0);
      expect(held('ctr-sock')).toHaveLength(1);
    } finally {
      for (let k = 0; k < REPLY_SLOTS; k++) rmSync(join(dir, `${k}.lock`), { force: true });
    }
  });

  it('runs a request once when it comes on the FIFO and then on the socket with one id', async () => {
    const frame = `${JSON.stringify({
      v: 1,
      id: 'twin-1',
      env: {
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: 'ctr-twin',
        CNI_NETNS: `/run/netns/${pods.pc}`,
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/opt/cni/bin',
      },
      stdin: node.pluginConf(),
    })}\n`;
    const fd = openSync(
      `${node.config.socketPath}.fifo`,
      constants.O_WRONLY | constants.O_NONBLOCK,
    );
    writeSync(fd, frame);
    closeSync(fd);
    const answer = await overSocket(node.config.socketPath, frame);
    expect(answer.exitCode, answer.stdout).toBe(0);
    const ip = (JSON.parse(answer.stdout) as Result).ips[0]!.address.split('/')[0]!;
    expect(held('ctr-twin')).toEqual([ip]);
    const links = execFileSync('ip', ['-n', pods.pc!, '-o', 'addr', 'show', 'dev', 'eth0'], {
      encoding: 'utf8',
    });
    expect(links.match(/inet /g)).toHaveLength(1);
  });
});
