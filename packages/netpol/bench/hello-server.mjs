// Runs inside the server pod: answers every TCP connection on PORT with one line and closes.
import net from 'node:net';

const port = Number(process.argv[2] ?? 80);
net
  .createServer((s) => {
    s.on('error', () => {});
    s.end('hi\n');
  })
  .listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
