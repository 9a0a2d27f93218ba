import { type Options, defineConfig } from 'tsup';

type EsbuildPlugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * In the exec'd plugin, ipaddr.js is evaluated on first use: its import becomes a proxy that
 * requires the real (bundled) module when a property is first read. Only IPv6 text needs it, so
 * an IPv4-only invocation never runs ipaddr.js's top level.
 */
const lazyIpaddr: EsbuildPlugin = {
  name: 'lazy-ipaddr',
  setup(build) {
    build.onResolve({ filter: /^ipaddr\.js$/ }, (args) =>
      args.namespace === 'lazy-ipaddr'
        ? undefined
        : { path: 'ipaddr.js', namespace: 'lazy-ipaddr' },
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-ipaddr' }, () => ({
      contents:
        "let real;\nmodule.exports = new Proxy({}, { get: (_, key) => (real ??= require('ipaddr.js'))[key] });\n",
      loader: 'js',
      resolveDir: import.meta.dirname,
    }));
  },
};

export default defineConfig([
  {
    entry: ['src/index.ts', 'src/testing/index.ts', 'src/plugin.ts'],
    format: 'esm',
    target: 'node20',
    dts: true,
    clean: true,
    tsconfig: 'tsconfig.build.json',
  },
  {
    // The exec'd plugin is one self-contained file so it starts fast, run by a small loader from
    // V8's code cache (scripts/build-code-cache.mjs). CommonJS starts faster than an ES module
    // entry (no ESM loader).
    entry: {
      'bin/podnet-ipam': 'src/bin/podnet-ipam.ts',
      'bin/podnet-ipam-main': 'src/bin/podnet-ipam-main.ts',
    },
    format: 'cjs',
    target: 'node20',
    noExternal: [/.*/],
    esbuildPlugins: [lazyIpaddr],
    esbuildOptions: (o) => {
      o.conditions = ['source'];
      // less text to read and hash at start; names are kept for readable stack traces
      o.minifyWhitespace = true;
      o.minifySyntax = true;
    },
    tsconfig: 'tsconfig.build.json',
  },
]);
