import { describe, expect, it } from 'vitest';
import {
  cniErrorResponse,
  configVersion,
  decodeReply,
  decodeRequest,
  decodeResponse,
  earlyRequestPath,
  encodeReply,
  encodeRequest,
  encodeResponse,
  MAX_REQUEST_BYTES,
  pickCniEnv,
  REPLY_SLOTS,
  replyDir,
  replyLockPath,
  replySlotPath,
  requestTooLarge,
  SHIM_PROTOCOL_VERSION,
  type ShimRequest,
} from '../src/protocol.js';

// The one protocol module: the shim bundles it, the agent imports it as
// @podnet/example-cni-plugin/protocol, so these tests hold both sides.
describe('shim protocol frames', () => {
  const env = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'c1',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: 'K8S_POD_NAMESPACE=a;K8S_POD_NAME=b',
    HOME: '/root',
  };

  it('round-trips requests (decode(encode(x)) = x) as one line that carries the revision', () => {
    const cases: ShimRequest[] = [
      { env: pickCniEnv(env), stdin: '{"a":"x\\ny"}' },
      { id: 'a.b-c_1', env: {}, stdin: '' },
      { id: 'x'.repeat(64), reply: REPLY_SLOTS - 1, env: { CNI_COMMAND: 'DEL' }, stdin: '{}' },
      { id: 'u', reply: 0, env: { CNI_COMMAND: 'ADD' }, stdin: '{"name":"ü\\u2028"}' },
    ];
    for (const req of cases) {
      const line = encodeRequest(req);
      expect(line.indexOf('\n')).toBe(line.length - 1);
      expect(JSON.parse(line).v).toBe(SHIM_PROTOCOL_VERSION);
      expect(decodeRequest(line.slice(0, -1))).toEqual(req);
    }
    expect(pickCniEnv(env)).not.toHaveProperty('HOME');
  });

  it('keeps only CNI_* variables, unread otherwise', () => {
    expect(
      decodeRequest('{"v":1,"env":{"CNI_COMMAND":"ADD","HOME":"/root","N":7},"stdin":"{}"}'),
    ).toEqual({ env: { CNI_COMMAND: 'ADD' }, stdin: '{}' });
  });

  it.each([
    ['nope', 'request: not valid JSON'],
    ['[]', 'request: want an object'],
    ['{"v":2,"env":{},"stdin":""}', 'request.v'],
    ['{"env":{},"stdin":""}', 'request.v'],
    ['{"v":1,"env":{},"stdin":3}', 'request.stdin'],
    ['{"v":1,"env":[],"stdin":""}', 'request.env'],
    ['{"v":1,"env":{"CNI_A":1},"stdin":""}', 'request.env.CNI_A'],
  ])('refuses request %s naming %s', (line, what) => {
    expect(() => decodeRequest(line)).toThrow(what);
  });

  it('accepts ids of 1-64 characters of [A-Za-z0-9._-] and refuses the rest', () => {
    const frame = (extra: Record<string, unknown>) =>
      JSON.stringify({ v: 1, env: { CNI_COMMAND: 'ADD' }, stdin: '{}', ...extra });
    for (const id of ['a', 'a.b-c_1', '1234.lx2.abcdef12', 'x'.repeat(64)]) {
      expect(decodeRequest(frame({ id })).id).toBe(id);
    }
    for (const id of ['', 'x'.repeat(65), 'has space', 'a/b', 'ü', 7, null]) {
      expect(() => decodeRequest(frame({ id })), JSON.stringify(id)).toThrow('request.id');
    }
  });

  it(`accepts reply slots 0-${REPLY_SLOTS - 1} and refuses the rest`, () => {
    const frame = (reply: unknown) =>
      JSON.stringify({ v: 1, id: 'ok', env: {}, stdin: '{}', reply });
    for (const slot of [0, 1, REPLY_SLOTS - 1]) expect(decodeRequest(frame(slot)).reply).toBe(slot);
    for (const slot of [REPLY_SLOTS, -1, 1.5, '3', null, true]) {
      expect(() => decodeRequest(frame(slot)), JSON.stringify(slot)).toThrow('request.reply');
    }
  });

  it('round-trips socket answers and refuses bad ones naming the field', () => {
    for (const r of [
      { exitCode: 0, stdout: '{"cniVersion":"1.1.0"}\n' },
      { exitCode: 255, stdout: '' },
    ]) {
      expect(decodeResponse(encodeResponse(r).slice(0, -1))).toEqual(r);
    }
    expect(() => decodeResponse('{"exitCode":300,"stdout":""}')).toThrow('response.exitCode');
    expect(() => decodeResponse('{"exitCode":1.5,"stdout":""}')).toThrow('response.exitCode');
    expect(() => decodeResponse('{"exitCode":0}')).toThrow('response.stdout');
    expect(() => decodeResponse('garbage')).toThrow('response: not valid JSON');
  });

  it('reads reply-FIFO frames for its own id only; a malformed one sends it to the socket', () => {
    const answer = { exitCode: 1, stdout: 'x\n' };
    expect(decodeReply(encodeReply('me', answer).trim(), 'me')).toEqual(answer);
    expect(decodeReply(encodeReply('me', 'socket').trim(), 'me')).toBe('socket');
    expect(decodeReply(encodeReply('someone-else', answer).trim(), 'me')).toBeUndefined();
    expect(decodeReply('not json', 'me')).toBeUndefined();
    expect(decodeReply('null', 'me')).toBeUndefined();
    expect(decodeReply('{"id":"me","exitCode":300,"stdout":""}', 'me')).toBe('socket');
    expect(decodeReply('{"id":"me","exitCode":0}', 'me')).toBe('socket');
  });
});

describe('shim protocol paths and helpers', () => {
  it('puts the FIFOs next to the socket', () => {
    const s = '/run/podnet/agent.sock';
    expect(earlyRequestPath(s)).toBe('/run/podnet/agent.sock.fifo');
    expect(replyDir(s)).toBe('/run/podnet/agent.sock.replies');
    expect(replySlotPath(s, 7)).toBe('/run/podnet/agent.sock.replies/7');
    expect(replyLockPath(s, 7)).toBe('/run/podnet/agent.sock.replies/7.lock');
    expect(REPLY_SLOTS).toBe(32);
  });

  it('renders CNI errors and reads the configuration version', () => {
    expect(cniErrorResponse('1.0.0', 7, 'bad', 'why')).toEqual({
      exitCode: 1,
      stdout: '{"cniVersion":"1.0.0","code":7,"msg":"bad","details":"why"}\n',
    });
    const big = JSON.parse(requestTooLarge('0.4.0', MAX_REQUEST_BYTES + 1).stdout);
    expect(big).toMatchObject({ cniVersion: '0.4.0', code: 7 });
    expect(big.msg).toContain(String(MAX_REQUEST_BYTES));
    expect(configVersion('{"cniVersion":"0.4.0"}')).toBe('0.4.0');
    expect(configVersion('{}')).toBe('0.1.0');
    expect(configVersion('{')).toBe('1.1.0');
  });
});
