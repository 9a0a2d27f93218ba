#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NodeAgent } from '../agent.js';
import { expandConfigEnv, parseAgentConfig } from '../config.js';
import { AgentError } from '../errors.js';
import { createLogger } from '../log.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' } }, strict: true });
  if (!values.config)
    throw new AgentError('INVALID_CONFIG', 'usage: podnet-agent --config <file.json>');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(values.config, 'utf8'));
  } catch (cause) {
    throw new AgentError(
      'INVALID_CONFIG',
      `cannot read ${values.config}: ${(cause as Error).message}`,
      { cause },
    );
  }
  const config = parseAgentConfig(expandConfigEnv(raw, process.env));
  const log = createLogger({ base: { node: config.nodeName } });
  const agent = new NodeAgent({ config, log });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('signal received; stopping', { signal });
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await agent.start();
}

main().catch((e: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ ts: new Date().toISOString(), level: 'error', msg: 'agent failed', error: (e as Error).message })}\n`,
  );
  process.exit(1);
});
