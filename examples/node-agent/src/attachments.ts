import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostPortMapping, PodAddress } from './plan.js';

/** What the agent remembers about one pod interface (one file per attachment under the state dir). */
export interface AttachmentRecord {
  readonly containerId: string;
  readonly ifName: string;
  readonly netns: string;
  readonly hostIf: string;
  readonly podMac: string;
  readonly mtu: number;
  readonly addresses: readonly PodAddress[];
  readonly hostPorts: readonly HostPortMapping[];
  readonly podNamespace?: string;
  readonly podName?: string;
  /** `pending` from the moment addresses are reserved until the links are up; then `ready`. */
  readonly phase: 'pending' | 'ready';
}

/** Attachment records on disk, written atomically (temp file + rename). */
export class AttachmentStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private file(containerId: string, ifName: string): string {
    return join(this.dir, `${containerId}_${ifName}.json`);
  }

  get(containerId: string, ifName: string): AttachmentRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.file(containerId, ifName), 'utf8')) as AttachmentRecord;
    } catch {
      return undefined;
    }
  }

  put(record: AttachmentRecord): void {
    const path = this.file(record.containerId, record.ifName);
    const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
    renameSync(tmp, path);
  }

  delete(containerId: string, ifName: string): void {
    rmSync(this.file(containerId, ifName), { force: true });
  }

  list(): AttachmentRecord[] {
    const out: AttachmentRecord[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) {
        if (name.includes('.tmp-')) rmSync(join(this.dir, name), { force: true });
        continue;
      }
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as AttachmentRecord);
      } catch {}
    }
    return out;
  }
}
