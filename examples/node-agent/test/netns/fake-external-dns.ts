/**
 * A fake upstream resolver for names outside the cluster, on the address given as the first
 * argument (in whatever network namespace this process was started in): the second argument is
 * a JSON object of `name: IPv4 address`, the third the TTL of its answers (default 60). Every
 * other name is NXDOMAIN. Prints one JSON line `{"port":N}`, then serves until killed.
 */
import { startFakeUpstream } from '@podnet/dns/testing';

const host = process.argv[2] ?? '127.0.0.1';
const names = JSON.parse(process.argv[3] ?? '{}') as Record<string, string>;
const ttl = Number(process.argv[4] ?? 60);
const upstream = await startFakeUpstream({
  host,
  records: Object.fromEntries(
    Object.entries(names).map(([name, ip]) => [
      name,
      [{ name, type: 'A' as const, class: 'IN' as const, ttl, data: ip }],
    ]),
  ),
});
process.stdout.write(`${JSON.stringify({ port: upstream.port })}\n`);
