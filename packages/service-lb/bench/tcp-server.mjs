// Runs inside the backend namespace: answers every TCP connection on PORT with one line.
import net from 'node:net';

const port = Number(process.argv[2]);
net.createServer((s) => s.end('ok\n')).listen(port, '0.0.0.0', () => console.log('ready'));
