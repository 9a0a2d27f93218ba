import { readFileSync } from 'node:fs';
import { nativeReleasePages } from './native-udp.js';

/** One mapping of `/proc/<pid>/smaps`, with the fields {@link releasableMappings} reads. */
export interface Mapping {
  /** First address. */
  start: number;
  /** One past the last address. */
  end: number;
  /** `r-xp`, `rw-p`, ...: read, write, execute, private (`p`) or shared (`s`). */
  perms: string;
  /** The mapped file's path, `[heap]`-like names, or `''` for anonymous memory. */
  path: string;
  /** Resident kilobytes. */
  rssKb: number;
  /** Kilobytes of private copies (written or copied-on-write pages): not the file's content. */
  anonymousKb: number;
}

/**
 * The mappings of a `/proc/<pid>/smaps` text. A mapping whose `Rss:` or `Anonymous:` line is
 * missing gets `NaN` there, which {@link releasableMappings} never chooses.
 */
export function parseSmaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  let cur: Mapping | undefined;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+ *(.*)$/.exec(line);
    if (head) {
      cur = {
        start: Number.parseInt(head[1] as string, 16),
        end: Number.parseInt(head[2] as string, 16),
        perms: head[3] as string,
        path: head[4] as string,
        rssKb: Number.NaN,
        anonymousKb: Number.NaN,
      };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const field = /^(Rss|Anonymous): +(\d+) kB$/.exec(line);
    if (field) cur[field[1] === 'Rss' ? 'rssKb' : 'anonymousKb'] = Number(field[2]);
  }
  return out;
}

/**
 * The mappings whose resident pages are exactly the file's content, so dropping them from the
 * process loses nothing: a later access reads the same bytes again from the page cache.
 * That is a private (`p`), readable, never-writable mapping of a regular file with no private
 * copy of any page (`Anonymous: 0 kB`: relocated read-only data, RELRO, was written before it
 * was made read-only and has copies, so it is never chosen), and with something resident.
 * Devices (`/dev/...`), memfds and deleted files are left alone.
 */
export function releasableMappings(maps: readonly Mapping[]): Mapping[] {
  return maps.filter(
    (m) =>
      m.perms[0] === 'r' &&
      m.perms[1] === '-' &&
      m.perms[3] === 'p' &&
      m.path.startsWith('/') &&
      !m.path.startsWith('/dev/') &&
      !m.path.endsWith(' (deleted)') &&
      m.anonymousKb === 0 &&
      m.rssKb > 0 &&
      m.end > m.start,
  );
}

/** What {@link releaseStartupPages} did. */
export interface ReleasedPages {
  /** Mappings released. */
  mappings: number;
  /** Their resident kilobytes before (the most the process's RSS dropped by). */
  releasedKb: number;
  /** Mappings madvise refused, with the errno (none expected). */
  failed: { path: string; errno: number }[];
}

/** What {@link releaseStartupPages} reads and calls (the defaults: this process, madvise). */
export interface ReleaseStartupPagesOptions {
  /** The smaps text (default `/proc/self/smaps`). */
  readSmaps?: () => string;
  /** madvise(MADV_DONTNEED): 0, the errno, or `null` when it is not available. */
  release?: (start: number, length: number) => number | null;
}

/**
 * Drops this process's resident pages of its program's code and read-only data (Node's own
 * binary, its libraries, native addons) from its working set. Node touches some 30 MB of them
 * while it starts (its snapshot, its bootstrap code, ICU data) and most are never used again,
 * yet they count in the RSS until the kernel needs the memory: a DNS server that answers from a
 * few hot paths then shows 3 × the RSS it uses. The pages it does use come back on their next
 * access (a minor fault from the page cache, which still holds them for every Node process).
 * Only {@link releasableMappings} are touched, so no data is lost; call it once the process is
 * up and settled. Returns `null` when madvise is not reachable (the native helper is not built).
 */
export function releaseStartupPages(
  options: ReleaseStartupPagesOptions = {},
): ReleasedPages | null {
  const release = options.release ?? nativeReleasePages;
  const readSmaps = options.readSmaps ?? (() => readFileSync('/proc/self/smaps', 'utf8'));
  const out: ReleasedPages = { mappings: 0, releasedKb: 0, failed: [] };
  for (const m of releasableMappings(parseSmaps(readSmaps()))) {
    const rc = release(m.start, m.end - m.start);
    if (rc === null) return null;
    if (rc === 0) {
      out.mappings += 1;
      out.releasedKb += m.rssKb;
    } else {
      out.failed.push({ path: m.path, errno: rc });
    }
  }
  return out;
}
