import { convertResult } from './convert.js';
import { CNI_ERROR_CODES, CniError } from './errors.js';
import type { AnyCniResult, GcAttachment, NetConfList } from './types.js';
import { highestCommonVersion, SUPPORTED_VERSIONS } from './version.js';

/** The per-attachment input of a runtime operation (libcni's `RuntimeConf`). */
export interface RuntimeConf {
  containerId: string;
  /** Path of the network namespace (e.g. `/run/netns/NAME`); may be empty for DEL. */
  netns: string;
  ifName: string;
  /** Sent as `CNI_ARGS` (`K=V;...`), e.g. `K8S_POD_NAME`. */
  args?: Record<string, string> | readonly (readonly [string, string])[];
  /** Values for plugins' declared `capabilities` (e.g. `portMappings`), sent as `runtimeConfig`. */
  capabilityArgs?: Record<string, unknown>;
}

/** An attachment for GC, in the runtime's spelling or the spec's (`containerID`/`ifname`). */
export type GcAttachmentInput = GcAttachment | { containerId: string; ifName: string };

/**
 * The version a list runs as: with `cniVersions` (1.1.0), the highest the runtime also
 * supports; else `cniVersion`. Throws code 1 when the runtime supports none.
 */
export function negotiateVersion(
  list: NetConfList,
  supported: readonly string[] = SUPPORTED_VERSIONS,
): string {
  if (list.cniVersions?.length) {
    const v = highestCommonVersion(list.cniVersions, supported);
    if (v) return v;
  } else if (supported.includes(list.cniVersion)) {
    return list.cniVersion;
  }
  throw new CniError(
    CNI_ERROR_CODES.INCOMPATIBLE_VERSION,
    `network ${list.name}: no supported cniVersion`,
    {
      details: `list has ${JSON.stringify(list.cniVersions ?? [list.cniVersion])}, runtime supports ${JSON.stringify([...supported])}`,
    },
  );
}

/**
 * Builds plugin `index`'s stdin (pure, as libcni does): the list entry with the list's `name`,
 * the negotiated `cniVersion`, `runtimeConfig` holding only the capability arguments the plugin
 * declares in `capabilities`, and `prevResult` (converted to `version`) when given.
 */
export function buildPluginConf(
  list: NetConfList,
  index: number,
  version: string,
  rt: Pick<RuntimeConf, 'capabilityArgs'> = {},
  prevResult?: AnyCniResult,
): Record<string, unknown> {
  const plugin = list.plugins[index];
  if (!plugin)
    throw new CniError(
      CNI_ERROR_CODES.INVALID_NETWORK_CONFIG,
      `network ${list.name} has no plugin ${index}`,
    );
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: version };
  delete conf.prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, enabled] of Object.entries(plugin.capabilities ?? {})) {
    if (enabled && rt.capabilityArgs && rt.capabilityArgs[cap] !== undefined) {
      runtimeConfig[cap] = rt.capabilityArgs[cap];
    }
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  if (prevResult) conf.prevResult = convertResult(prevResult, version);
  return conf;
}

/** Normalises GC attachments to the spec's `{containerID, ifname}`. */
export function toGcAttachments(list: readonly GcAttachmentInput[]): GcAttachment[] {
  return list.map((a) =>
    'containerID' in a
      ? { containerID: a.containerID, ifname: a.ifname }
      : { containerID: a.containerId, ifname: a.ifName },
  );
}
