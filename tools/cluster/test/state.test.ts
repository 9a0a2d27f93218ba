import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  ClusterError,
  emptyClusterObjects,
  main,
  parseState,
  planCluster,
  STATE_VERSION,
} from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'podnet-state-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const plan = planCluster({ name: 'old', prefix: 'pnc-old-', nodes: 2, network: 'podnet' });
/** A state.json as podnet wrote it before it kept cluster-state objects. */
const OLD = {
  plan,
  runDir: join(root, 'old'),
  agents: { node1: 4242, node2: 4343 },
  namespaces: [],
  pods: [
    { namespace: 'default', name: 'a', labels: {}, nodeName: 'node1', ports: [], ip: '10.244.1.2' },
  ],
  services: [],
  networkPolicies: [],
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return ClusterError.isInstance(e) ? e.code : 'not a ClusterError';
  }
  return undefined;
}

describe('parseState', () => {
  it('reads the current format', () => {
    const state = {
      version: STATE_VERSION,
      plan,
      runDir: '/run/x',
      agents: {},
      objects: emptyClusterObjects(),
      sandboxes: [],
    };
    expect(parseState(JSON.stringify(state), 'state.json', 'x')).toEqual(state);
  });

  it("refuses an older podnet's state, saying how to remove that cluster by hand", () => {
    expect(() => parseState(JSON.stringify(OLD), '/r/old/state.json', 'old')).toThrow(
      `/r/old/state.json: cluster old was made by an older podnet (unnumbered state format); this podnet reads state format ${STATE_VERSION} only and cannot manage it. Remove it by hand: kill 4242 4343; ip netns list | grep -o '^pnc-old-[^ ]*' | xargs -rn1 ip netns del; rm -rf /etc/netns/pnc-old-* ${OLD.runDir}`,
    );
    expect(codeOf(() => parseState(JSON.stringify({ ...OLD, version: 7 }), 's', 'old'))).toBe(
      'STATE_VERSION',
    );
  });

  it('calls anything else corrupt', () => {
    expect(codeOf(() => parseState('{', 's', 'x'))).toBe('STATE_CORRUPT');
    expect(codeOf(() => parseState('[]', 's', 'x'))).toBe('STATE_CORRUPT');
    expect(codeOf(() => parseState(JSON.stringify({ version: STATE_VERSION }), 's', 'x'))).toBe(
      'STATE_CORRUPT',
    );
  });
});

describe('podnet status and down on an older state', () => {
  const stderr: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    stderr.length = 0;
  });

  it('fail with the message (exit 2) and leave the cluster alone', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      stderr.push(String(s));
      return true;
    });
    mkdirSync(OLD.runDir, { recursive: true });
    const file = join(OLD.runDir, 'state.json');
    writeFileSync(file, JSON.stringify(OLD));
    const manifest = join(root, 'ns.yaml');
    writeFileSync(manifest, 'apiVersion: v1\nkind: Namespace\nmetadata: { name: x }\n');
    for (const args of [['status'], ['down'], ['apply', manifest]]) {
      stderr.length = 0;
      expect(await main([...args, '--name', 'old', '--run-root', root])).toBe(2);
      expect(stderr.join('')).toMatch(
        new RegExp(
          `^podnet ${args[0]}: STATE_VERSION: ${file}: cluster old was made by an older podnet .* Remove it by hand: `,
        ),
      );
    }
    expect(existsSync(file)).toBe(true);
  });
});
