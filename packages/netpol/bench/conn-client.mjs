// Runs inside the client pod: `conn-client.mjs HOST PORT MS` opens TCP connections one after
// another for MS milliseconds (connect, wait for the server's first byte, close) and prints
// {count, seconds, latenciesUs} as JSON. The first 20 connections warm up and are not counted.
import net from 'node:net';

const [host, portArg, msArg] = process.argv.slice(2);
const port = Number(portArg);
const dur = Number(msArg);
const one = () =>
  new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = net.connect({ host, port });
    s.once('data', () => {
      resolve(Number(process.hrtime.bigint() - t0) / 1000);
      s.destroy();
    });
    s.once('error', reject);
  });
for (let i = 0; i < 20; i++) await one();
const lat = [];
const start = performance.now();
while (performance.now() - start < dur) lat.push(await one());
console.log(
  JSON.stringify({
    count: lat.length,
    seconds: (performance.now() - start) / 1000,
    latenciesUs: lat,
  }),
);
