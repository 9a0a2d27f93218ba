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
  };
  if (cmd.op === 'upsert' && cmd.object) fx.upsert(cmd.path, cmd.object);
  else if (cmd.op === 'remove' && cmd.name) fx.remove(cmd.path, cmd.name, cmd.namespace);
  process.stdout.write('ok\n');
});
