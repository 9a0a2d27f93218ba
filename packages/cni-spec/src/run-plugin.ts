import { readFileSync } from 'node:fs';
import { handleInvocation, type PluginHandlers, type PluginOptions } from './skeleton.js';

async function readStdin(): Promise<string> {
  try {
    return readFileSync(0, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EAGAIN') return '';
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The plugin's `main`: reads `process.env` and stdin, runs {@link handleInvocation}, prints the
 * result or error JSON on stdout and exits with its code. `console.log` is sent to stderr while
 * the plugin runs, so stray logging cannot corrupt the protocol output.
 */
export async function runPlugin(
  handlers: PluginHandlers,
  options: PluginOptions = {},
): Promise<never> {
  console.log = console.error;
  console.info = console.error;
  const stdin = await readStdin();
  const { stdout, exitCode } = await handleInvocation(
    { env: process.env, stdin },
    handlers,
    options,
  );
  return new Promise<never>(() => {
    const done = () => process.exit(exitCode);
    if (stdout) process.stdout.write(stdout, done);
    else done();
  });
}
