/**
 * Small self-contained Node programs the cluster runs inside namespaces: the pod server (answers
 * on the pod's declared ports with its name) and the probe client. Kept as source text so they
 * run with a bare `node` in any namespace, built or not.
 */

/**
 * `node pod-server.js NAME PORTS_JSON READY_FILE [BIND]`: on every TCP port answers the first chunk
 * with `NAME CLIENT_IP\n` (an HTTP request gets the same line as an HTTP 200 body); on every UDP
 * port answers each datagram the same way. Writes READY_FILE once every socket listens. BIND is
 * `0.0.0.0` (default) or `::` (IPv6 and, as mapped addresses, IPv4).
 */
export const POD_SERVER_JS = String.raw`
const net = require('node:net');
const dgram = require('node:dgram');
const fs = require('node:fs');
const [name, portsJson, readyFile, bind = '0.0.0.0'] = process.argv.slice(2);
const ports = JSON.parse(portsJson);
const clean = (a) => String(a || '').replace(/^::ffff:/, '');
let pending = ports.length;
const ready = () => { if (--pending <= 0 && readyFile) fs.writeFileSync(readyFile, String(process.pid)); };
if (pending === 0) ready();
for (const p of ports) {
  if (p.protocol === 'UDP') {
    const s = dgram.createSocket(bind.includes(':') ? 'udp6' : 'udp4');
    s.on('message', (msg, r) => s.send(name + ' ' + clean(r.address) + '\n', r.port, r.address));
    s.bind(p.port, bind, ready);
  } else {
    const s = net.createServer((c) => {
      c.on('error', () => {});
      c.setTimeout(5000, () => c.destroy());
      c.once('data', (d) => {
        const line = name + ' ' + clean(c.remoteAddress) + '\n';
        if (/^(GET|HEAD|POST|PUT) /.test(d.toString('latin1'))) {
          c.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ' + Buffer.byteLength(line) + '\r\nConnection: close\r\n\r\n' + line);
        } else c.end(line);
      });
    });
    s.listen(p.port, bind, ready);
  }
}
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * `node -e PROBE_JS TARGETS_JSON TIMEOUT_MS`: for each `{host, port, proto, family, sport}` (concurrently; `sport`, optional, is the source port)
 * resolves the host with the system resolver (so a pod's resolv.conf applies; `family` 4, the
 * default, asks for A records, 6 for AAAA), sends one request and records
 * `{ok, address, reply, error}`; prints the JSON array of results.
 */
export const PROBE_JS = String.raw`
const net = require('node:net');
const dgram = require('node:dgram');
const dns = require('node:dns');
const http = require('node:http');
const [targetsJson, timeoutS] = process.argv.slice(1);
const timeout = Number(timeoutS);
const probe = ({ host, port, proto, family, sport }) => new Promise((resolve) => {
  let finished = false;
  const cleanups = [];
  const done = (o) => { if (finished) return; finished = true; for (const c of cleanups) c(); resolve(o); };
  const t = setTimeout(() => done({ ok: false, error: 'timeout' }), timeout);
  cleanups.push(() => clearTimeout(t));
  const go = (address) => {
    if (proto === 'udp') {
      const s = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
      const iv = setInterval(() => s.send('probe\n', port, address, () => {}), 300);
      cleanups.push(() => { clearInterval(iv); s.close(); });
      s.on('message', (m) => done({ ok: true, address, reply: m.toString().trim() }));
      s.on('error', (e) => done({ ok: false, address, error: e.code || e.message }));
      if (sport) s.bind(sport, () => s.send('probe\n', port, address, () => {}));
      else s.send('probe\n', port, address, () => {});
    } else if (proto === 'http') {
      const r = http.get({ host: address, port, ...(sport ? { localPort: sport } : {}), path: '/', agent: false, headers: { host: (net.isIPv6(host) ? '[' + host + ']' : host) + ':' + port } }, (res) => {
        let b = ''; res.on('data', (d) => (b += d));
        res.on('end', () => done({ ok: res.statusCode === 200, address, reply: b.trim(), status: res.statusCode }));
      });
      cleanups.push(() => r.destroy());
      r.on('error', (e) => done({ ok: false, address, error: e.code || e.message }));
    } else {
      const c = net.connect({ host: address, port, ...(sport ? { localPort: sport } : {}) });
      cleanups.push(() => c.destroy());
      let b = '';
      c.on('connect', () => c.write('probe\n'));
      c.on('data', (d) => (b += d));
      c.on('end', () => done({ ok: b.length > 0, address, reply: b.trim() }));
      c.on('error', (e) => done({ ok: false, address, error: e.code || e.message }));
    }
  };
  if (net.isIP(host)) go(host);
  else dns.lookup(host, { family: family || 4 }, (err, address) => (err ? done({ ok: false, error: 'dns: ' + (err.code || err.message) }) : go(address)));
});
Promise.all(JSON.parse(targetsJson).map(probe)).then((r) => { process.stdout.write(JSON.stringify(r) + '\n'); process.exit(0); });
`;
