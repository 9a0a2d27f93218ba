// Runs inside the client pod: `conn-client.mjs HOST[,HOST...] PORT MS` opens TCP connections one
// after another for MS milliseconds, round-robin over the hosts (connect, wait for the server's
// first byte, close), and prints {latenciesUs: [[per host...], ...]} as JSON. Interleaving the
// targets in one loop puts every target under the same machine noise. The first 20 connections
// per host warm up and are not counted.
import net from 'node:net';

const [hostsArg, portArg, msArg] = process.argv.slice(2);
const hosts = hostsArg.split(',');
const port = Number(portArg);
const dur = Number(msArg);
const one = (host) =>
  new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = net.connect({ host, port });
    s.once('data', () => {
      resolve(Number(process.hrtime.bigint() - t0) / 1000);
      s.destroy();
    });
    s.once('error', reject);
  });
for (let i = 0; i < 20; i++) for (const h of hosts) await one(h);
const lat = hosts.map(() => []);
const start = performance.now();
while (performance.now() - start < dur) {
  for (let k = 0; k < hosts.length; k++) lat[k].push(await one(hosts[k]));
}
console.log(JSON.stringify({ latenciesUs: lat }));
