import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic.js';
import { BuildError } from '../errors.js';

/**
 * fwbuild.lock: the inputs fwbuild takes from outside the checkout, as they were resolved. It
 * is meant to be committed. The project's own sources and model are not in it: they are in git.
 */
export interface LockData {
  lockfileVersion: 1;
  /** Written by builds (the Debian toolchain side); absent in a lock only `fwbuild fetch` wrote. */
  debian?: { suite: string; mirror: string | null };
  images?: { base: { ref: string; id: string }; toolchain: { ref: string; id: string } };
  /** Every Debian package in the toolchain image (which holds the base image's too): name:arch -> version */
  packages?: Record<string, string>;
  /** Files the toolchain image downloaded as they are: kernel and busybox .debs, busybox's .dsc */
  downloads?: string[];
  sources?: { quickjs: { npm: string; integrity: string } };
  /** Per OpenWrt target: the resolved release and every file downloaded for it, by sha256. */
  openwrt?: Record<string, OpenWrtLock>;
}

export interface OpenWrtLock {
  release: string;
  dir: string;
  /** key id of the usign key that signed sha256sums */
  signedBy: string;
  files: Record<string, string>;
}

/** The part of a lock a build resolves; the OpenWrt part is kept as `fetch` left it. */
export const DEBIAN_KEYS = ['debian', 'images', 'packages', 'downloads', 'sources'] as const;

export const LOCK_FILE = 'fwbuild.lock';

/** Parses the image's /usr/share/fwbuild/dpkg.lock: `name\tversion\tarch` lines, then file names. */
export function parseDpkgLock(text: string): Pick<LockData, 'packages' | 'downloads'> {
  const packages: Record<string, string> = {};
  const downloads: string[] = [];
  for (const line of text.split('\n').filter(Boolean)) {
    const [name, version, arch] = line.split('\t');
    if (version !== undefined && arch !== undefined) packages[`${name}:${arch}`] = version;
    else downloads.push(line);
  }
  return { packages, downloads: downloads.sort() };
}

export async function readLock(file: string): Promise<LockData | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const data = JSON.parse(text) as LockData;
    if (data.lockfileVersion !== 1) throw new Error(`lockfileVersion ${String(data.lockfileVersion)} is not 1`);
    return data;
  } catch (e) {
    throw new BuildError(`${file} is not a fwbuild lock file: ${(e as Error).message}`, 'delete it and build again to write a new one');
  }
}

/** Written next to the old file and renamed over it: a crash never leaves half a lock. */
export async function writeLock(file: string, data: LockData): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(data, null, 2)}\n`);
}

/** What changed from `before` to `after`, one line per value, in a stable order. */
export function diffLock(before: LockData, after: LockData): string[] {
  const flat = (o: unknown, prefix: string, out: Map<string, string>): Map<string, string> => {
    if (Array.isArray(o)) for (const v of o) out.set(`${prefix}[${String(v)}]`, 'present');
    else if (o !== null && typeof o === 'object') for (const [k, v] of Object.entries(o)) flat(v, prefix ? `${prefix}.${k}` : k, out);
    else out.set(prefix, String(o));
    return out;
  };
  const a = flat(before, '', new Map());
  const b = flat(after, '', new Map());
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  const lines: string[] = [];
  for (const k of keys) {
    const x = a.get(k);
    const y = b.get(k);
    if (x === y) continue;
    if (x === undefined) lines.push(y === 'present' ? `added ${k}` : `added ${k} = ${y}`);
    else if (y === undefined) lines.push(x === 'present' ? `removed ${k}` : `removed ${k} (was ${x})`);
    else lines.push(`${k}: ${x} -> ${y}`);
  }
  return lines;
}
