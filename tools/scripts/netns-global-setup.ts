import { execFileSync } from 'node:child_process';
import { sweepStaleTestNets } from '../../packages/host/src/testing/index.js';

/** Namespace tests need root, built binaries (they are exec'd as a runtime would), and no leftovers. */
export default function setup(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('namespace tests need root: run them as root (npm test does this in CI)');
  }
  sweepStaleTestNets();
  if (!process.env.PODNET_SKIP_BUILD) {
    execFileSync('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
      stdio: 'inherit',
      env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
    });
  }
}
