/**
 * Runs an ApiFixture inside whatever network namespace this process was started in. Prints its
 * URL as the first stdout line; reads JSON commands from stdin, one per line:
 * `{"op":"upsert","path":"/api/v1/nodes","object":{...}}` or `{"op":"remove","path":...,"name":...}`.
 */
import { createInterface } from 'node:readline';
import { ApiFixture } from '@podnet/cluster-state/testing';

const fx = new ApiFixture();
const url = await fx.start();
process.stdout.write(`${url}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line) as {
    op: string;
    path: string;
    object?: never;
    name?: string;
    namespace?: string;
    count?: number;
    faults?: Partial<typeof fx.faults>;
  };
  if (cmd.op === 'upsert' && cmd.object) fx.upsert(cmd.path, cmd.object);
  else if (cmd.op === 'remove' && cmd.name) fx.remove(cmd.path, cmd.name, cmd.namespace);
  else if (cmd.op === 'services') {
    // `count` Services svc-N with one ready endpoint each, generated here (not sent over stdin)
    for (let i = 0; i < (cmd.count ?? 0); i++) {
      const ip = `10.96.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`;
      fx.upsert('/api/v1/services', {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: `svc-${i}`, namespace: 'bulk' },
        spec: { clusterIP: ip, clusterIPs: [ip], ports: [{ name: 'http', port: 80 }] },
      });
      fx.upsert('/apis/discovery.k8s.io/v1/endpointslices', {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `svc-${i}-a`,
          namespace: 'bulk',
          labels: { 'kubernetes.io/service-name': `svc-${i}` },
        },
        addressType: 'IPv4',
        endpoints: [{ addresses: [`10.244.21.${(i % 200) + 20}`], conditions: { ready: true } }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      });
    }
  } else if (cmd.op === 'faults') Object.assign(fx.faults, cmd.faults);
  else if (cmd.op === 'expire') fx.expireOpenWatches();
  else if (cmd.op === 'close') fx.closeOpenWatches();
  else if (cmd.op === 'compact') fx.compact();
  process.stdout.write('ok\n');
});
