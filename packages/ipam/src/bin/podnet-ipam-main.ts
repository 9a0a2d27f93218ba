import { readFileSync, writeSync } from 'node:fs';
import { handleInvocation } from '@podnet/cni-spec';
import { loadNative } from '../native.js';
import { createIpamPlugin } from '../plugin.js';

// A lean main (rather than cni-spec's runPlugin): no console or stdout stream is created, which
// keeps the exec'd plugin's start close to a bare `node`.
let stdin = '';
try {
  stdin = readFileSync(0, 'utf8');
} catch {
  stdin = '';
}
void handleInvocation({ env: process.env, stdin }, createIpamPlugin()).then(
  ({ stdout, exitCode }) => {
    if (stdout) {
      // the native helper's write skips Node's first-call cost of writeSync
      const failed = loadNative()?.write(1, stdout);
      if (failed === undefined) writeSync(1, stdout);
      else if (failed !== 0) throw new Error(`cannot write the result to stdout (errno ${failed})`);
    }
    process.exitCode = exitCode;
  },
);
