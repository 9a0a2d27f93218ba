// Client pod: `probe.mjs tcp|udp HOST PORT COUNT [TIMEOUT_MS] [SOURCE_PORT]`.
// Prints a JSON array with one entry per attempt: the answer, or an error code / "timeout".
// TCP: a new connection and HTTP request each time. UDP: a connected socket each time (so an
// ICMP port-unreachable surfaces as ECONNREFUSED), bound to SOURCE_PORT when given.
import dgram from 'node:dgram';
import http from 'node:http';

const [mode, host, portArg, countArg, timeoutArg, sportArg] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg ?? 1);
const timeout = Number(timeoutArg ?? 3000);
const sport = sportArg ? Number(sportArg) : undefined;

function tcpOnce() {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', agent: false, timeout }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => {
      req.destroy();
      resolve('timeout');
    });
    req.on('error', (e) => resolve(e.code ?? String(e)));
  });
}

function udpOnce() {
  return new Promise((resolve) => {
    const sock = dgram.createSocket({
      type: host.includes(':') ? 'udp6' : 'udp4',
      reuseAddr: true,
    });
    const done = (v) => {
      clearTimeout(timer);
      sock.close();
      resolve(v);
    };
    const timer = setTimeout(() => done('timeout'), timeout);
    sock.on('message', (m) => done(m.toString()));
    sock.on('error', (e) => done(e.code ?? String(e)));
    sock.bind(sport ?? 0, () => {
      sock.connect(port, host, () => sock.send('ping'));
    });
  });
}

const out = [];
for (let i = 0; i < count; i++) out.push(await (mode === 'tcp' ? tcpOnce() : udpOnce()));
console.log(JSON.stringify(out));
