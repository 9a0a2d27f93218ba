import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExecRunner, type RunResult } from '@podnet/host';

/** Where podman runs and which CNI configuration it uses. */
export interface PodmanOptions {
  /** A private directory for podman's storage, run dir, tmp dir and the busybox root filesystem. */
  dir: string;
  /** The node's network namespace path (podman runs inside it, so plugins create links there). */
  netnsPath: string;
  /** The CNI conflist directory (podman's `network_config_dir`). */
  confDir: string;
  /** The CNI plugin directories (`cni_plugin_dirs`). */
  pluginDirs: string[];
}

/** The containers.conf that points Debian's podman 4.3 at a node's CNI configuration. Pure. */
export function renderContainersConf(o: PodmanOptions): string {
  const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;
  return [
    '[containers]',
    'default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]',
    '[network]',
    'network_backend = "cni"',
    `cni_plugin_dirs = ${list(o.pluginDirs)}`,
    `network_config_dir = ${JSON.stringify(o.confDir)}`,
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `tmp_dir = ${JSON.stringify(join(o.dir, 'tmp'))}`,
    '',
  ].join('\n');
}

/**
 * podman aimed at a node of the namespace cluster: its own storage (vfs) under `dir`, runc, a
 * static busybox as root filesystem (`rootfs`), and CNI from the node's conf dir.
 */
export class NodePodman {
  readonly rootfs: string;
  /** podman's run root: a short path (podman refuses more than 50 characters) derived from `dir`. */
  readonly runroot: string;
  private readonly runner: ExecRunner;

  constructor(readonly options: PodmanOptions) {
    const d = options.dir;
    this.rootfs = join(d, 'rootfs');
    this.runroot = `/run/podnet-podman-${createHash('sha256').update(d).digest('hex').slice(0, 12)}`;
    for (const sub of ['root', 'tmp', 'rootfs/bin', 'rootfs/etc'])
      mkdirSync(join(d, sub), { recursive: true });
    mkdirSync(this.runroot, { recursive: true });
    if (!existsSync(join(this.rootfs, 'bin', 'busybox'))) {
      copyFileSync('/bin/busybox', join(this.rootfs, 'bin', 'busybox'));
      for (const c of ['sh', 'sleep', 'wget', 'nc', 'ip', 'cat', 'nslookup'])
        symlinkSync('busybox', join(this.rootfs, 'bin', c));
    }
    writeFileSync(join(d, 'containers.conf'), renderContainersConf(options));
    const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: join(d, 'containers.conf') };
    delete env.NODE_EXTRA_CA_CERTS;
    this.runner = new ExecRunner({ env });
  }

  /** The full argv of `podman ARGS` run inside the node's namespace. */
  argv(args: readonly string[]): string[] {
    const d = this.options.dir;
    return [
      'nsenter',
      `--net=${this.options.netnsPath}`,
      '--',
      'podman',
      '--runtime',
      'runc',
      '--storage-driver',
      'vfs',
      '--root',
      join(d, 'root'),
      '--runroot',
      this.runroot,
      ...args,
    ];
  }

  /** The environment podman needs (CONTAINERS_CONF). */
  env(): NodeJS.ProcessEnv {
    return { ...process.env, CONTAINERS_CONF: join(this.options.dir, 'containers.conf') };
  }

  /** Runs `podman ARGS` and returns its output (a non-zero code is not thrown). */
  run(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return this.runner.run({ argv: this.argv(args), timeoutMs });
  }

  /** Removes every container (`podman rm -af`), which runs CNI DEL for each. */
  async removeAll(): Promise<RunResult> {
    return this.run(['rm', '-a', '-f', '-t', '0']);
  }

  /** Removes every container, then podman's storage and run root. */
  async destroy(): Promise<RunResult> {
    const r = await this.removeAll();
    rmSync(this.runroot, { recursive: true, force: true });
    rmSync(this.options.dir, { recursive: true, force: true });
    return r;
  }
}
