import {
  type AnyCniResult,
  CniRuntime,
  findPlugin,
  loadConfLists,
  type NetConfList,
  type PluginExec,
} from '@podnet/cni-spec';
import { ExecRunner } from '@podnet/host';

/**
 * A {@link PluginExec} that runs every plugin inside a node's network namespace
 * (`nsenter --net=PATH -- plugin`), as a runtime on that node would: host-side links land there.
 */
export function netnsPluginExec(netnsPath: string): PluginExec {
  return {
    find: findPlugin,
    run: (request) =>
      new ExecRunner({ env: request.env as NodeJS.ProcessEnv }).run({
        argv: [request.pluginPath],
        stdin: request.stdin,
        netns: { path: netnsPath },
        timeoutMs: request.timeoutMs,
      }),
  };
}

/** @podnet/cni-spec's libcni-style runtime for one node: its plugin dirs, result cache and namespace. */
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
    exec: netnsPluginExec(options.netnsPath),
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
