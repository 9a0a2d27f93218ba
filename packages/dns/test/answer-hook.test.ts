import { ClusterStore } from '@podnet/cluster-state';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DnsAnswerHook,
  type DnsMessage,
  DnsServer,
  answerAddresses,
  decodeMessage,
  encodeQuery,
} from '../src/index.js';
import { type FakeUpstream, startFakeUpstream } from '../src/testing/index.js';

const rr = (name: string, type: 'A' | 'AAAA' | 'CNAME', data: string, ttl: number) => ({
  name,
  type,
  class: 'IN' as const,
  ttl,
  data,
});

const message = (name: string, answers: DnsMessage['answers']): DnsMessage => ({
  id: 1,
  qr: true,
  opcode: 0,
  aa: false,
  tc: false,
  rd: true,
  ra: true,
  ad: false,
  cd: false,
  rcode: 0,
  questions: [{ name, type: 'A' }],
  answers,
  authorities: [],
  additionals: [],
});

describe('answerAddresses', () => {
  it.each([
    {
      what: 'plain A records',
      msg: message('Api.Example.com.', [rr('api.example.com', 'A', '192.0.2.1', 30)]),
      want: { names: ['api.example.com'], addrs: ['192.0.2.1'], ttl: 30 },
    },
    {
      what: 'a CNAME chain, the least TTL on it',
      msg: message('a.example', [
        rr('a.example', 'CNAME', 'b.example', 300),
        rr('b.example', 'CNAME', 'c.example', 20),
        rr('c.example', 'A', '192.0.2.3', 60),
        rr('c.example', 'AAAA', '2001:db8::3', 60),
      ]),
      want: {
        names: ['a.example', 'b.example', 'c.example'],
        addrs: ['192.0.2.3', '2001:db8::3'],
        ttl: 20,
      },
    },
    {
      what: 'records of names off the chain are ignored',
      msg: message('a.example', [
        rr('a.example', 'A', '192.0.2.1', 60),
        rr('other.example', 'A', '192.0.2.66', 60),
      ]),
      want: { names: ['a.example'], addrs: ['192.0.2.1'], ttl: 60 },
    },
    {
      what: 'a CNAME loop ends',
      msg: message('a.example', [
        rr('a.example', 'CNAME', 'b.example', 60),
        rr('b.example', 'CNAME', 'a.example', 60),
      ]),
      want: null,
    },
    { what: 'no answers', msg: message('a.example', []), want: null },
  ])('$what', ({ msg, want }) => {
    expect(answerAddresses(msg)).toEqual(want);
  });
});

describe('DnsServer answer hook', () => {
  let upstream: FakeUpstream;
  beforeAll(async () => {
    upstream = await startFakeUpstream({
      records: { 'api.example.com': [rr('api.example.com', 'A', '192.0.2.1', 30)] },
    });
  });
  afterAll(async () => {
    await upstream?.stop();
  });

  const state = {
    namespaces: [{ metadata: { name: 'default' } }],
    services: [
      {
        metadata: { name: 'ext', namespace: 'default' },
        spec: { type: 'ExternalName', externalName: 'api.example.com' },
      },
    ],
    pods: [
      {
        metadata: { namespace: 'default', name: 'web' },
        spec: { containers: [] },
        status: { podIP: '10.244.0.10' },
      },
    ],
  };

  it('sees the addresses before the answer is released, for watched clients only', async () => {
    const events: string[] = [];
    let release: () => void = () => undefined;
    const hook: DnsAnswerHook = {
      watches: (ip) => ip === '10.244.0.10',
      onAnswer: (client, name, addrs, ttl) => {
        events.push(`hook ${client.namespace}/${client.name} ${name} ${addrs.join(',')} ${ttl}`);
        return new Promise((r) => {
          release = r;
        });
      },
    };
    const server = new DnsServer({
      upstreams: [upstream.address],
      autopath: true,
      answerHook: hook,
    });
    server.update(state);
    const pending = server
      .handle(encodeQuery({ id: 1, name: 'api.example.com', type: 'A' }), 'udp', '10.244.0.10')
      .then((r) => {
        events.push('released');
        return r;
      });
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual(['hook default/web api.example.com 192.0.2.1 30']);
    release();
    const res = decodeMessage((await pending) as Uint8Array);
    expect(res.answers.map((a) => a.data)).toEqual(['192.0.2.1']);
    expect(events).toEqual(['hook default/web api.example.com 192.0.2.1 30', 'released']);

    // an autopath answer and an ExternalName Service are named by the external name
    events.length = 0;
    const viaPath = server.handle(
      encodeQuery({ id: 2, name: 'api.example.com.default.svc.cluster.local', type: 'A' }),
      'udp',
      '10.244.0.10',
    );
    await new Promise((r) => setTimeout(r, 50));
    release();
    await viaPath;
    const viaService = server.handle(
      encodeQuery({ id: 3, name: 'ext.default.svc.cluster.local', type: 'A' }),
      'udp',
      '10.244.0.10',
    );
    await new Promise((r) => setTimeout(r, 50));
    release();
    await viaService;
    expect(events).toEqual([
      'hook default/web api.example.com 192.0.2.1 30',
      // the Service's CNAME has the zone TTL (5 s), the least on the chain
      'hook default/web api.example.com 192.0.2.1 5',
    ]);

    // another client is not held
    events.length = 0;
    await server.handle(
      encodeQuery({ id: 4, name: 'api.example.com', type: 'A' }),
      'udp',
      '10.244.0.99',
    );
    expect(events).toEqual([]);
    expect(server.metrics.answerHookCalls).toBe(3);
  });

  it('a hook set after an update from a source still knows the pods', async () => {
    const source = new ClusterStore();
    source.transaction((tx) => {
      tx.replace('Namespace', state.namespaces);
      tx.replace('Pod', state.pods);
    });
    const server = new DnsServer({ upstreams: [upstream.address] });
    server.update(source);
    expect(server.client('10.244.0.10')).toBeUndefined();
    const seen: string[] = [];
    server.setAnswerHook({
      watches: () => true,
      onAnswer: async (client) => {
        seen.push(`${client.namespace}/${client.name}`);
      },
    });
    expect(server.client('10.244.0.10')?.namespace).toBe('default');
    await server.handle(
      encodeQuery({ id: 1, name: 'api.example.com', type: 'A' }),
      'udp',
      '10.244.0.10',
    );
    expect(seen).toEqual(['default/web']);
  });

  it('releases the answer when the hook fails, and counts the failure', async () => {
    const server = new DnsServer({
      upstreams: [upstream.address],
      answerHook: { watches: () => true, onAnswer: () => Promise.reject(new Error('nft down')) },
    });
    server.update(state);
    const res = await server.handle(
      encodeQuery({ id: 1, name: 'api.example.com', type: 'A' }),
      'udp',
      '10.244.0.10',
    );
    expect(decodeMessage(res as Uint8Array).answers).toHaveLength(1);
    expect(server.metrics.answerHookErrors).toBe(1);
  });
});
