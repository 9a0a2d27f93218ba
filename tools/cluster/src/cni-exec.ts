import {
  type AnyCniResult,
  CniRuntime,
  loadConfLists,
  type NetConfList,
  netnsExec,
} from '@podnet/cni-spec';

/**
 * @podnet/cni-spec's libcni-style runtime for one node: its plugin dirs, result cache, and every
 * plugin run inside the node's namespace (cni-spec's `netnsExec`), as a runtime on that node would.
 */
export function nodeCniRuntime(options: {
  binDirs: string[];
  cacheDir: string;
  netnsPath: string;
}): CniRuntime {
  const env: Record<string, string | undefined> = { PATH: process.env.PATH };
  return new CniRuntime({
    binDirs: options.binDirs,
    cacheDir: options.cacheDir,
    env,
    exec: netnsExec(options.netnsPath),
  });
}

/** The first valid network configuration of a conf dir (libcni order), as containerd picks it. */
export function firstConfList(dir: string): NetConfList | undefined {
  return loadConfLists(dir)[0];
}

/** The first IPv4 address of a CNI result (any version), without prefix length. */
export function resultIpv4(result: AnyCniResult): string | undefined {
  return result.ips?.map((x) => x.address.split('/')[0]!).find((a) => !a.includes(':'));
}
