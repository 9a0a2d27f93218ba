import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { IpamError } from './errors.js';
import { type FlockOptions, flockExclusive } from './flock.js';
import type { NodeSubnetState, NodeSubnetStore } from './node-subnets.js';
import { Mutex } from './store.js';

/**
 * A {@link NodeSubnetStore} in one JSON file (`{"nodes": {name: [cidr, ...]}}`), replaced
 * atomically on every change and guarded by `flock` on `<path>.lock` across processes.
 */
export class FileNodeSubnetStore implements NodeSubnetStore {
  readonly path: string;
  readonly #options: FlockOptions;
  readonly #mutex = new Mutex();

  constructor(path: string, options: FlockOptions = {}) {
    this.path = path;
    this.#options = options;
  }

  update<T>(fn: (state: NodeSubnetState) => { state: NodeSubnetState; result: T }): Promise<T> {
    return this.#mutex.run(async () => {
      try {
        mkdirSync(dirname(this.path), { recursive: true });
      } catch (cause) {
        throw new IpamError('STORE_FAILED', `cannot create ${dirname(this.path)}`, { cause });
      }
      const unlock = await flockExclusive(`${this.path}.lock`, this.#options);
      try {
        const before = this.#read();
        const { state, result } = fn(before);
        const text = JSON.stringify(state, null, 2);
        if (text !== JSON.stringify(before, null, 2)) this.#write(text);
        return result;
      } finally {
        unlock();
      }
    });
  }

  #read(): NodeSubnetState {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (cause) {
      if ((cause as { code?: string }).code === 'ENOENT') return { nodes: {} };
      throw new IpamError('STORE_FAILED', `cannot read ${this.path}`, { cause });
    }
    try {
      const parsed = JSON.parse(text) as NodeSubnetState;
      if (typeof parsed !== 'object' || parsed === null || typeof parsed.nodes !== 'object')
        throw new Error('no nodes');
      return parsed;
    } catch (cause) {
      throw new IpamError('STORE_FAILED', `${this.path} is not a node subnet state file`, {
        cause,
      });
    }
  }

  #write(text: string): void {
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      writeFileSync(tmp, text);
      renameSync(tmp, this.path);
    } catch (cause) {
      throw new IpamError('STORE_FAILED', `cannot write ${this.path}`, { cause });
    }
  }
}
