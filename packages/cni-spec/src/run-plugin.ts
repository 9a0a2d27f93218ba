import { readFileSync, writeSync } from 'node:fs';
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

/** Writes what it can synchronously to fd 1; returns the bytes left (e.g. on EAGAIN). */
function writeSyncAll(buf: Buffer): Buffer {
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(1, buf, off);
  } catch {}
  return buf.subarray(off);
}

/**
 * The plugin's `main`: reads `process.env` and stdin, runs {@link handleInvocation}, prints the
 * result or error JSON on stdout and exits with its code. `console.log` is sent to stderr while
 * the plugin runs, so stray logging cannot corrupt the protocol output. Stdin and stdout are
 * used through their file descriptors (no stream objects), which keeps the process start short.
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
  const rest = writeSyncAll(Buffer.from(stdout, 'utf8'));
  if (rest.length === 0) process.exit(exitCode);
  return new Promise<never>(() => {
    process.stdout.write(rest, () => process.exit(exitCode));
  });
}
