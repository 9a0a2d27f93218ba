import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DNS_NODE_ENV, DNS_NODE_FLAGS, type DnsServerOptions } from '@podnet/dns';
import type { AgentConfig } from './config.js';
import { AgentError } from './errors.js';
import type { Logger } from './log.js';

/**
 * The argv of `podnet-dns` for this node: the same cluster source as the agent, serving the
 * node-local DNS address. The built binary when present, else its source through tsx (a
 * development checkout).
 */
export function dnsProcessArgv(config: AgentConfig): string[] {
  const require = createRequire(import.meta.url);
  // the real path: the same on every start, however the module was resolved (a symlink or not)
  const pkgDir = realpathSync(dirname(require.resolve('@podnet/dns/package.json')));
  const built = join(pkgDir, 'dist', 'bin', 'podnet-dns.js');
  let entry: string[];
  // with the Node flags its own #! line gives it (see DNS_NODE_FLAGS)
  if (existsSync(built)) entry = [process.execPath, ...DNS_NODE_FLAGS, built];
  else {
    const tsx = pathToFileURL(require.resolve('tsx')).href;
    entry = [
      process.execPath,
      ...DNS_NODE_FLAGS,
      '--conditions=source',
      '--import',
      tsx,
      join(pkgDir, 'src', 'bin', 'podnet-dns.ts'),
    ];
  }
  const src = config.source;
  const source =
    src.kind === 'manifests'
      ? ['--manifests', src.dir]
      : src.kubeconfig
        ? ['--kubeconfig', src.kubeconfig]
        : ['--in-cluster'];
  // FQDN egress: podnet-dns fills this node's ClusterNetworkPolicy domainNames sets itself
  const fqdn = ['--fqdn-egress', '--node-name', config.nodeName];
  return [...entry, ...source, ...dnsSettingsArgv(config.dns), ...fqdn];
}

/**
 * The `podnet-dns` flags of the agent's `dns` settings (address, zone, upstreams, stub domains,
 * TTL, pod records, cache), in a fixed order: the argv is what a restarted agent compares to
 * adopt the running process, so a changed setting replaces it.
 */
export function dnsSettingsArgv(dns: AgentConfig['dns']): string[] {
  const out = ['--address', dns.ip, '--port', '53', '--zone', dns.clusterDomain];
  if (dns.upstreams) for (const u of dns.upstreams) out.push('--upstream', u);
  else out.push('--resolv-conf', '/etc/resolv.conf');
  for (const [domain, servers] of Object.entries(dns.stubDomains ?? {}).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  ))
    out.push('--stub-domain', `${domain}=${servers.join(',')}`);
  if (dns.ttl !== undefined) out.push('--ttl', String(dns.ttl));
  if (dns.pods !== undefined) out.push('--pods', dns.pods);
  if (dns.cacheSize !== undefined) out.push('--cache-size', String(dns.cacheSize));
  if (dns.autopath) out.push('--autopath');
  if (dns.fqdnFloorSeconds !== undefined) out.push('--fqdn-floor', String(dns.fqdnFloorSeconds));
  if (dns.workers !== undefined) out.push('--workers', String(dns.workers));
  return out;
}

/**
 * The {@link DnsServer} options of the agent's `dns` settings (embedded mode): the same settings
 * as {@link dnsSettingsArgv} gives `podnet-dns`.
 */
export function dnsServerOptions(dns: AgentConfig['dns']): DnsServerOptions {
  return {
    zone: dns.clusterDomain,
    nameservers: [dns.ip],
    ...(dns.upstreams ? { upstreams: dns.upstreams } : { resolvConf: '/etc/resolv.conf' }),
    ...(dns.stubDomains ? { stubDomains: dns.stubDomains } : {}),
    ...(dns.ttl === undefined ? {} : { ttl: dns.ttl }),
    ...(dns.pods === undefined ? {} : { pods: dns.pods }),
    ...(dns.cacheSize === undefined
      ? {}
      : { cache: dns.cacheSize === 0 ? false : { maxEntries: dns.cacheSize } }),
    // searchDomains stays empty: the agent gives pods only the cluster's three search domains
    // (plan.ts dnsSearch), which the server derives from each pod's namespace
    ...(dns.autopath ? { autopath: true } : {}),
    ...(dns.workers === undefined ? {} : { udpWorkers: dns.workers }),
  };
}

/**
 * Stops a `podnet-dns` recorded in `<stateDir>/dns.pid` whatever its argv (the agent switched to
 * embedded DNS, which needs the address and port that process holds) and waits for it to exit;
 * resolves true when there was one.
 */
export async function retireDnsProcess(stateDir: string): Promise<boolean> {
  const pidFile = join(stateDir, 'dns.pid');
  let old: number | undefined;
  try {
    old = Number(readFileSync(pidFile, 'utf8').trim()) || undefined;
  } catch {}
  if (old === undefined || !cmdline(old)?.some((a) => a.includes('podnet-dns'))) return false;
  try {
    process.kill(old, 'SIGTERM');
  } catch {}
  for (let i = 0; i < 50 && cmdline(old) !== undefined; i++)
    await new Promise((r) => setTimeout(r, 100));
  rmSync(pidFile, { force: true });
  return true;
}

function cmdline(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return undefined;
  }
}

/**
 * Pods' cluster DNS as a process of its own on the node (as NodeLocal DNSCache runs beside
 * kubelet): started detached by the agent, with its own view of the cluster source, so it keeps
 * answering while the agent restarts or crashes. A restarted agent adopts the running process
 * when its command line is the one it wants (found through `<stateDir>/dns.pid`), and replaces it
 * when the configuration changed.
 */
export class DnsProcess {
  private pid?: number;
  /** An adopted process is listening; a started one once its log says so. */
  private listening = true;
  private readonly pidFile: string;
  private readonly logFile: string;

  constructor(
    config: AgentConfig,
    private readonly log: Logger,
    private readonly argv: readonly string[] = dnsProcessArgv(config),
  ) {
    this.pidFile = join(config.stateDir, 'dns.pid');
    this.logFile = join(config.stateDir, 'dns.log');
  }

  /** The running process's pid, if any. */
  get running(): number | undefined {
    return this.pid !== undefined && this.matches(this.pid) ? this.pid : undefined;
  }

  private matches(pid: number): boolean {
    const cl = cmdline(pid);
    return cl !== undefined && cl.join('\0') === this.argv.join('\0');
  }

  /** Adopts the node's DNS process when it runs with the wanted argv, else starts one. */
  async ensure(): Promise<'adopted' | 'started'> {
    let old: number | undefined;
    try {
      old = Number(readFileSync(this.pidFile, 'utf8').trim()) || undefined;
    } catch {}
    if (old !== undefined && this.matches(old)) {
      this.pid = old;
      this.listening = true;
      return 'adopted';
    }
    if (old !== undefined)
      this.log.info('cluster DNS process not adopted', {
        pid: old,
        running: cmdline(old)?.join(' ') ?? null,
        wanted: this.argv.join(' '),
      });
    if (old !== undefined && cmdline(old)?.some((a) => a.includes('podnet-dns'))) {
      // the configuration changed: replace it (pods see a short gap only on such a change)
      try {
        process.kill(old, 'SIGTERM');
      } catch {}
      for (let i = 0; i < 50 && cmdline(old) !== undefined; i++)
        await new Promise((r) => setTimeout(r, 100));
    }
    const fd = openSync(this.logFile, 'w');
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.NODE_OPTIONS;
    // with the environment its own #! line gives it (see DNS_NODE_ENV)
    Object.assign(env, DNS_NODE_ENV);
    const child = spawn(this.argv[0]!, this.argv.slice(1), {
      detached: true,
      stdio: ['ignore', fd, fd],
      env,
    });
    closeSync(fd);
    child.unref();
    if (child.pid === undefined)
      throw new AgentError('DATAPATH_FAILED', `cannot start ${this.argv.join(' ')}`);
    this.pid = child.pid;
    this.listening = false;
    writeFileSync(this.pidFile, String(child.pid));
    // not waited for: it lists the cluster itself, in parallel with the agent's first apply;
    // readiness asks `serving`
    return 'started';
  }

  /** True once the running process has said it listens (its log's `listening` event). */
  get serving(): boolean {
    if (this.running === undefined) return false;
    if (!this.listening) {
      try {
        this.listening = readFileSync(this.logFile, 'utf8').includes('"event":"listening"');
      } catch {}
    }
    return this.listening;
  }

  /** The end of the process's log (for a message when it died). */
  logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-1500);
    } catch {
      return '';
    }
  }

  /** Stops the process (the agent does this only when asked to remove its DNS). */
  stop(): void {
    const pid = this.running;
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
  }
}
