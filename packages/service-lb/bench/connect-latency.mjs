// Runs inside the client namespace: `connect-latency.mjs HOST PORT COUNT` opens COUNT TCP
// connections one after another (connect, read the one-line answer, close) and prints the
// per-connection latencies in microseconds as JSON.
import net from 'node:net';

const [host, portArg, countArg] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
const once = () =>
  new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = net.connect({ host, port });
    s.once('data', () => {
      resolve(Number(process.hrtime.bigint() - t0) / 1000);
      s.destroy();
    });
    s.once('error', reject);
  });
for (let i = 0; i < 20; i++) await once();
const out = [];
for (let i = 0; i < count; i++) out.push(await once());
console.log(JSON.stringify(out));
