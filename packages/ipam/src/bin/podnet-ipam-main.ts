import { readFileSync, writeSync } from 'node:fs';
import { handleInvocation } from '@podnet/cni-spec';
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
    if (stdout) writeSync(1, stdout);
    process.exitCode = exitCode;
  },
);
