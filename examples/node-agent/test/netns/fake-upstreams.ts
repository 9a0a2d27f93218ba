/**
 * Two fake DNS resolvers on the address given as the first argument, in whatever network
 * namespace this process was started in: `upstream` answers `www.example.org`, `corp` answers
 * `db.corp.example` (each answers NXDOMAIN for everything else). Prints one JSON line with their
 * ports, then serves until killed.
 */
import { startFakeUpstream } from '@podnet/dns/testing';

const host = process.argv[2] ?? '127.0.0.1';
const a = (name: string, data: string) => ({
  name,
  type: 'A' as const,
  class: 'IN' as const,
  ttl: 60,
  data,
});
const upstream = await startFakeUpstream({
  host,
  records: { 'www.example.org': [a('www.example.org', '192.0.2.80')] },
});
const corp = await startFakeUpstream({
  host,
  records: { 'db.corp.example': [a('db.corp.example', '198.51.100.7')] },
});
process.stdout.write(`${JSON.stringify({ upstream: upstream.port, corp: corp.port })}\n`);
