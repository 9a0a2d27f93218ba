// Backend pod: HTTP on TCP 8080 and a UDP echo on 5353 (both families). Each answer is
// "<name> <client address>". Prints "ready" once listening.
import dgram from 'node:dgram';
import http from 'node:http';

const name = process.argv[2];
const server = http.createServer((req, res) => {
  res.end(`${name} ${req.socket.remoteAddress.replace(/^::ffff:/, '')}`);
});
let pending = 3;
const ready = () => {
  if (--pending === 0) console.log('ready');
};
server.listen({ port: 8080, host: '::' }, ready);
for (const type of ['udp4', 'udp6']) {
  const sock = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
  sock.on('message', (_msg, rinfo) =>
    sock.send(`${name} ${rinfo.address}`, rinfo.port, rinfo.address),
  );
  sock.bind(5353, type === 'udp4' ? '0.0.0.0' : '::', ready);
}
