// A pod's test agent: serves TCP and UDP echo on the given ports and answers probe commands
// (JSON lines) on a unix socket, which the test process reaches from outside the namespace.
import { createSocket } from 'node:dgram';
import { createConnection, createServer } from 'node:net';

const [sockPath, portsArg] = process.argv.slice(2);
const ports = (portsArg ?? '80,81').split(',').map(Number);
for (const port of ports) {
  createServer((s) => s.pipe(s).on('error', () => {})).listen(port, '0.0.0.0');
  const u = createSocket('udp4');
  u.on('message', (msg, rinfo) => u.send(msg, rinfo.port, rinfo.address));
  u.bind(port, '0.0.0.0');
}

const held = new Map();
let nextHandle = 1;

function probeTcp(ip, port, timeoutMs) {
  return new Promise((resolve) => {
    const s = createConnection({ host: ip, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

function probeUdp(ip, port, timeoutMs, once) {
  return new Promise((resolve) => {
    const u = createSocket('udp4');
    // Datagrams can be lost on a loaded machine: resend from the same socket until the deadline.
    const resend = once ? undefined : setInterval(() => u.send('probe', port, ip), 300);
    const done = (ok) => {
      clearTimeout(t);
      clearInterval(resend);
      u.close();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    u.once('message', () => done(true));
    u.once('error', () => done(false));
    u.send('probe', port, ip);
  });
}

function open(ip, port, timeoutMs) {
  return new Promise((resolve) => {
    const s = createConnection({ host: ip, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(0);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      const h = nextHandle++;
      held.set(h, s);
      resolve(h);
    });
    s.once('error', () => resolve(0));
  });
}

function echo(handle, timeoutMs) {
  const s = held.get(handle);
  if (!s) return Promise.resolve(false);
  return new Promise((resolve) => {
    const token = `t${Math.random()}`;
    let got = '';
    const onData = (d) => {
      got += d.toString();
      if (got.includes(token)) done(true);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    function done(ok) {
      clearTimeout(t);
      s.off('data', onData);
      resolve(ok);
    }
    s.on('data', onData);
    s.write(token);
  });
}

async function handle(req) {
  if (req.op === 'tcp') return probeTcp(req.ip, req.port, req.timeoutMs);
  if (req.op === 'udp') return probeUdp(req.ip, req.port, req.timeoutMs, req.once === true);
  if (req.op === 'open') return open(req.ip, req.port, req.timeoutMs);
  if (req.op === 'echo') return echo(req.handle, req.timeoutMs);
  return null;
}

createServer((c) => {
  let buf = '';
  c.on('data', (d) => {
    buf += d.toString();
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const req = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
      handle(req).then((result) => c.write(`${JSON.stringify({ id: req.id, result })}\n`));
    }
  });
  c.on('error', () => {});
}).listen(sockPath, () => process.stdout.write('ready\n'));
