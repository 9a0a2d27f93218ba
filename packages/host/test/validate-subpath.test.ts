import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type Plugin, build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import * as root from '../src/index.js';
import * as validate from '@podnet/host/validate';

const here = fileURLToPath(new URL('.', import.meta.url));
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Bundles `spec` for a neutral platform; returns every Node built-in its module graph imports. */
async function nodeImportsOf(spec: string): Promise<string[]> {
  const found = new Set<string>();
  const record: Plugin = {
    name: 'record-node-builtins',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (!args.path.startsWith('node:') && !builtins.has(args.path)) return undefined;
        found.add(`${args.path} (from ${args.importer})`);
        return { path: args.path, external: true };
      });
    },
  };
  const out = await build({
    stdin: { contents: `export * from '${spec}';`, resolveDir: here, loader: 'ts' },
    bundle: true,
    write: false,
    platform: 'neutral',
    format: 'esm',
    mainFields: ['module', 'main'],
    conditions: ['source'],
    metafile: true,
    logLevel: 'silent',
    plugins: [record],
  });
  const text = out.outputFiles.map((f) => f.text).join('\n');
  for (const m of text.matchAll(
    /(?:from\s*|import\s*\(\s*|require\s*\(\s*)["'](node:[^"']+)["']/g,
  )) {
    found.add(m[1]!);
  }
  return [...found].sort();
}

describe('@podnet/host/validate', () => {
  it('has a module graph with no node:* import', async () => {
    expect(await nodeImportsOf('@podnet/host/validate')).toEqual([]);
  });

  it('is told apart from the root entry, which does import node built-ins', async () => {
    const imports = await nodeImportsOf('@podnet/host');
    expect(imports.some((i) => i.startsWith('node:child_process'))).toBe(true);
  });

  it('exports the same validators and HostError as the root entry', () => {
    const sub = new Map<string, unknown>(Object.entries(validate));
    const top = new Map<string, unknown>(Object.entries(root));
    expect([...sub.keys()]).toEqual(
      expect.arrayContaining(['HostError', 'assertCidr', 'assertIfName', 'isIfName', 'isMac']),
    );
    for (const [name, value] of sub) expect(value, name).toBe(top.get(name));
  });

  it('throws HostError INVALID_ARGUMENT from the subpath', () => {
    expect(validate.isIfName('eth0')).toBe(true);
    expect(validate.isIfName('.hidden')).toBe(false);
    expect(validate.isMac('0A:1b:2c:3d:4e:5f')).toBe(true);
    try {
      validate.assertIfName('way-too-long-interface');
      expect.unreachable();
    } catch (e) {
      expect(validate.HostError.isInstance(e)).toBe(true);
      expect((e as InstanceType<typeof validate.HostError>).code).toBe('INVALID_ARGUMENT');
    }
  });
});
