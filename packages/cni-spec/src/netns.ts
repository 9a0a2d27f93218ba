import { statfsSync, statSync } from 'node:fs';

/** `NSFS_MAGIC` from linux/magic.h: the file system of namespace files. */
const NSFS_MAGIC = 0x6e736673;

/**
 * Why `path` is not a namespace file, or undefined when it is one: a namespace bind-mounted on a
 * file (`/run/netns/NAME`, as `ip netns add` and runtimes make them) or `/proc/PID/ns/net`. One
 * `statfs` call when it is one; a missing path, a directory or a plain file are refused with the
 * reason.
 */
export function netnsProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'is not an absolute path';
  try {
    if (statfsSync(path).type === NSFS_MAGIC) return undefined;
    const st = statSync(path);
    const kind = st.isDirectory()
      ? 'a directory'
      : st.isFile()
        ? 'a regular file'
        : 'a special file';
    return `is ${kind}, not a network namespace`;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(e)})`;
  }
}

/**
 * Throws an `Error` with the reason unless `path` is a namespace file (see {@link netnsProblem}).
 * Made to be the skeleton's `checkNetns` option, which reports it as code 4 naming `CNI_NETNS`.
 */
export function assertNetns(path: string): void {
  const problem = netnsProblem(path);
  if (problem) throw new Error(`${path} ${problem}`);
}
