/** The operations of the CNI protocol (STATUS and GC since 1.1.0). */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';

/** DNS settings, in a configuration (`dns`) or a result (`dns`). */
export interface DnsConfig {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** The `ipam` section of a plugin configuration: `type` names the IPAM plugin binary. */
export interface IpamConfig {
  type: string;
  [key: string]: unknown;
}

/** One port mapping of the `portMappings` capability (CONVENTIONS.md). */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol?: string;
  hostIP?: string;
}

/** An attachment a runtime still considers valid, as sent to GC. */
export interface GcAttachment {
  containerID: string;
  ifname: string;
}

/** One entry of a conflist's `plugins` (its `name`/`cniVersion` are ignored: the list's win). */
export interface PluginConf {
  type: string;
  ipMasq?: boolean;
  ipam?: IpamConfig;
  dns?: DnsConfig;
  capabilities?: Record<string, boolean>;
  runtimeConfig?: Record<string, unknown>;
  args?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * A plugin's configuration as the plugin receives it on stdin (spec 1.1.0): the conflist entry
 * plus the `name`, `cniVersion`, `runtimeConfig` and `prevResult` the runtime injected.
 * Unknown (plugin-specific) keys are kept.
 */
export interface NetConf extends PluginConf {
  cniVersion: string;
  name: string;
  /** The previous plugin's result, converted to the 1.1.0 shape for the handler. */
  prevResult?: CniResult;
  /** GC only: the attachments the runtime still considers valid (either key accepted). */
  'cni.dev/valid-attachments'?: GcAttachment[];
  'cni.dev/attachments'?: GcAttachment[];
}

/** A network configuration list (a `.conflist` file). */
export interface NetConfList {
  cniVersion: string;
  /** 1.1.0: versions this list may be run as; the runtime picks the highest it supports. */
  cniVersions?: string[];
  name: string;
  disableCheck?: boolean;
  disableGC?: boolean;
  plugins: PluginConf[];
}

/** An interface in a result. `mtu`, `socketPath` and `pciID` are 1.1.0 additions. */
export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

/** An address in a 1.x result: `interface` is an index into `interfaces`. */
export interface CniIpConfig {
  address: string;
  gateway?: string;
  interface?: number;
}

/** A route in a result. `mtu`, `advmss`, `priority`, `table` and `scope` are 1.1.0 additions. */
export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

/** A result in the 1.0.0/1.1.0 shape (what handlers return; any `cniVersion` is converted). */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: DnsConfig;
}

/** An address in a 0.3.x/0.4.0 result: it also carries its family. */
export interface LegacyIpConfig extends CniIpConfig {
  version: '4' | '6';
}

/** A route in a 0.3.x/0.4.0 result. */
export interface LegacyRoute {
  dst: string;
  gw?: string;
}

/** A result in the 0.3.0/0.3.1/0.4.0 shape. */
export interface LegacyCniResult {
  cniVersion: string;
  interfaces?: Pick<CniInterface, 'name' | 'mac' | 'sandbox'>[];
  ips?: LegacyIpConfig[];
  routes?: LegacyRoute[];
  dns?: DnsConfig;
}

/** A result of any version this package reads and writes. */
export type AnyCniResult = CniResult | LegacyCniResult;

/** What VERSION prints. */
export interface VersionInfo {
  cniVersion: string;
  supportedVersions: string[];
}
