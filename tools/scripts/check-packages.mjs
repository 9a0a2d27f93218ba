#!/usr/bin/env node
// Package checks: publint --strict and attw on every publishable package, then a consumer check:
// `npm pack` each one, install the tarballs into a temp project outside the repo, and import every
// entry point of its exports map there (and run each bin's --version or VERSION where it has one).
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });

const packages = readdirSync(join(root, 'packages'))
  .map((d) => join(root, 'packages', d))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => !pkg.private);

const problems = [];
const work = mkdtempSync(join(tmpdir(), 'podnet-consumer-'));
const tarballs = [];
try {
  for (const { dir, pkg } of packages) {
    for (const [what, cmd, args] of [
      ['publint', 'npx', ['publint', '--strict', dir]],
      ['attw', 'npx', ['attw', '--pack', dir, '--profile', 'esm-only', '--format', 'ascii']],
    ]) {
      try {
        run(cmd, args, { cwd: root });
        console.log(`ok   ${what} ${pkg.name}`);
      } catch (e) {
        problems.push(`${what} ${pkg.name}:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
        console.log(`FAIL ${what} ${pkg.name}`);
      }
    }
    const out = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: dir });
    tarballs.push(join(work, JSON.parse(out)[0].filename));
  }

  const consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'podnet-consumer', private: true, type: 'module' }),
  );
  // the optional peers a user of cluster-state's sources installs beside it
  const peers = ['@kubernetes/client-node@1.4.0', 'yaml@^2.9.1'];
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs, ...peers], {
    cwd: consumer,
  });

  // One object model without heavier packages: a package that only takes cluster-state's types
  // installs neither the informer stack nor the YAML parser.
  for (const alone of ['@podnet/netpol', '@podnet/service-lb']) {
    const dir = join(work, `alone-${alone.split('/')[1]}`);
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'alone', private: true, type: 'module' }),
    );
    const mine = tarballs.filter((t) => /podnet-(host|cluster-state|netpol|service-lb)-\d/.test(t));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...mine], { cwd: dir });
    const heavy = ['@kubernetes/client-node', 'yaml'].filter((m) =>
      existsSync(join(dir, 'node_modules', ...m.split('/'))),
    );
    if (heavy.length) problems.push(`${alone} alone installs ${heavy.join(', ')}`);
    else console.log(`ok   ${alone} alone installs neither @kubernetes/client-node nor yaml`);
  }

  const imports = [];
  for (const { pkg } of packages) {
    for (const sub of Object.keys(pkg.exports ?? { '.': null })) {
      if (sub === './package.json') continue;
      imports.push(sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`);
    }
  }
  const script = `
    const specs = ${JSON.stringify(imports)};
    let bad = 0;
    for (const s of specs) {
      try {
        const m = await import(s);
        const names = Object.keys(m);
        if (names.length === 0) { console.log('FAIL import ' + s + ': no exports'); bad++; }
        else console.log('ok   import ' + s + ' (' + names.length + ' exports)');
      } catch (e) { console.log('FAIL import ' + s + ': ' + e.message); bad++; }
    }
    process.exit(bad ? 1 : 0);
  `;
  writeFileSync(join(consumer, 'check.mjs'), script);
  try {
    process.stdout.write(run('node', ['check.mjs'], { cwd: consumer }));
  } catch (e) {
    process.stdout.write(e.stdout ?? '');
    problems.push('consumer imports failed');
  }
  for (const { pkg } of packages) {
    for (const bin of Object.keys(pkg.bin ?? {})) {
      try {
        const env = { ...process.env, CNI_COMMAND: 'VERSION' };
        const v = run(join(consumer, 'node_modules', '.bin', bin), ['--version'], {
          cwd: consumer,
          env,
        });
        console.log(`ok   bin ${bin}: ${v.trim().split('\n')[0].slice(0, 80)}`);
      } catch (e) {
        problems.push(`bin ${bin} of ${pkg.name} did not run: ${e.stderr ?? e.message}`);
        console.log(`FAIL bin ${bin}`);
      }
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

if (problems.length) {
  console.error(`\n${problems.join('\n\n')}`);
  process.exit(1);
}
console.log(`\nall ${packages.length} packages pass publint, attw and the consumer check`);
