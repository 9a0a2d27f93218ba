#!/usr/bin/env node
import { watch } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { DnsError } from '../errors.js';
import { loadManifests } from '../manifests.js';
import { DnsServer } from '../server.js';
import type { PodsMode } from '../types.js';

const USAGE = `usage: podnet-dns --manifests DIR [options]

Serves Kubernetes cluster DNS from a directory of manifests (Namespaces, Services,
EndpointSlices, Pods as YAML or JSON), reloaded on change and on SIGHUP.

  --manifests DIR      directory of manifests (required)
  --address IP         listen address (default 127.0.0.1)
  --port N             UDP and TCP port (default 53; 0 picks a free one)
  --http-port N        /health, /ready, /metrics port (default: none)
  --zone NAME          cluster domain (default cluster.local)
  --ttl N              record TTL in seconds (default 5)
  --pods MODE          disabled | insecure | verified (default insecure)
  --upstream ADDR      upstream resolver IP[:port]; repeatable
  --resolv-conf PATH   read upstreams from this file (when no --upstream)
  --udp PATH           auto | native | dgram: how UDP is served (default auto: the
                       native batch path when built, else node:dgram)
  --no-watch           do not reload when the directory changes
  --version            print the version

Prints one JSON line {"event":"listening",...} once serving.`;

function fail(message: string): never {
  process.stderr.write(`podnet-dns: ${message}\n`);
  process.exit(2);
}

function int(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    fail(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      options: {
        manifests: { type: 'string' },
        address: { type: 'string' },
        port: { type: 'string' },
        'http-port': { type: 'string' },
        zone: { type: 'string' },
        ttl: { type: 'string' },
        pods: { type: 'string' },
        upstream: { type: 'string', multiple: true },
        'resolv-conf': { type: 'string' },
        udp: { type: 'string' },
        'no-watch': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
      strict: true,
    });
  try {
    args = parse();
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  const v = args.values;
  if (v.version) {
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    process.stdout.write(`podnet-dns ${pkg.version} (Kubernetes DNS specification 1.1.0)\n`);
    return;
  }
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!v.manifests) fail(`--manifests is required\n${USAGE}`);
  const dir = v.manifests;
  const udp = v.udp ?? 'auto';
  if (udp !== 'auto' && udp !== 'native' && udp !== 'dgram')
    fail(`--udp must be auto, native or dgram, got ${JSON.stringify(udp)}`);
  const port = int(v.port, 'port', 53);
  const httpPort = v['http-port'] === undefined ? undefined : int(v['http-port'], 'http-port', 0);
  const server = new DnsServer({
    zone: v.zone,
    ttl: int(v.ttl, 'ttl', 5),
    pods: v.pods as PodsMode | undefined,
    upstreams: v.upstream,
    resolvConf: v.upstream ? undefined : v['resolv-conf'],
  });
  const reload = async (): Promise<void> => {
    try {
      server.update(await loadManifests(dir));
      process.stdout.write(`${JSON.stringify({ event: 'synced', names: server.names })}\n`);
    } catch (err) {
      const e = err as DnsError;
      process.stderr.write(
        `${JSON.stringify({ event: 'reload-failed', code: e.code, field: e.field, message: e.message })}\n`,
      );
      if (!server.synced) throw err;
    }
  };
  await reload();
  const addr = await server.start({
    address: v.address ?? '127.0.0.1',
    port,
    httpPort,
    udp,
  });
  process.stdout.write(
    `${JSON.stringify({ event: 'listening', ...addr, upstreams: server.upstreams })}\n`,
  );
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), 100);
  };
  if (!v['no-watch']) watch(dir, schedule).on('error', () => undefined);
  process.on('SIGHUP', schedule);
  const shutdown = (): void => {
    clearTimeout(timer);
    void server.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  if (DnsError.isInstance(err))
    fail(
      `${err.code}: ${err.message}${err.cause ? ` (${String((err.cause as Error).message ?? err.cause)})` : ''}`,
    );
  fail(String((err as Error)?.stack ?? err));
});
