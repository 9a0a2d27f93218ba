/** The result versions this package parses and converts between, oldest first. */
export const SUPPORTED_VERSIONS: readonly string[] = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** The newest spec version this package implements. */
export const CURRENT_VERSION = '1.1.0';

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** True when `v` looks like `MAJOR.MINOR.PATCH`. */
export function isVersion(v: unknown): v is string {
  return typeof v === 'string' && SEMVER.test(v);
}

/** Compares two `MAJOR.MINOR.PATCH` versions: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** True when `v` is at least `min`. */
export function versionAtLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0;
}

/** The highest version present in both lists, or undefined. */
export function highestCommonVersion(
  wanted: readonly string[],
  supported: readonly string[],
): string | undefined {
  return wanted
    .filter((v) => isVersion(v) && supported.includes(v))
    .sort(compareVersions)
    .at(-1);
}
