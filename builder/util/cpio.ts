import { writeFile } from 'node:fs/promises';

/** One initramfs entry; the archive is built from data, never from the host's file metadata. */
export type CpioEntry =
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'file'; data: Buffer; mode?: number }
  | { path: string; type: 'symlink'; target: string }
  /** a device node: the kernel needs /dev/console before init runs, to give it stdio */
  | { path: string; type: 'char'; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);

/**
 * A newc ("070701") cpio archive as the kernel unpacks initramfs: entries sorted by path,
 * owner 0:0, one mtime, inode numbers by position. The same entries give the same bytes.
 */
export function cpioNewc(entries: readonly CpioEntry[], mtime: number): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  sorted.forEach((e, i) => {
    if (i > 0 && sorted[i - 1]!.path === e.path) throw new Error(`initramfs: ${e.path} is listed twice`);
  });
  const parts: Buffer[] = [];
  const add = (name: string, mode: number, data: Buffer, ino: number, nlink: number, rdev: [number, number] = [0, 0]): void => {
    const nameZ = Buffer.from(`${name}\0`);
    const fields = [ino, mode, 0, 0, nlink, mtime, data.length, 0, 0, rdev[0], rdev[1], nameZ.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).toUpperCase().padStart(8, '0')).join('')}`);
    parts.push(header, nameZ, pad4(header.length + nameZ.length), data, pad4(data.length));
  };
  sorted.forEach((e, i) => {
    const path = e.path.replace(/^\/+/, '');
    if (e.type === 'dir') add(path, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), i + 1, 2);
    else if (e.type === 'symlink') add(path, S_IFLNK | 0o777, Buffer.from(e.target), i + 1, 1);
    else if (e.type === 'char') add(path, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), i + 1, 1, [e.major, e.minor]);
    else add(path, S_IFREG | (e.mode ?? 0o644), e.data, i + 1, 1);
  });
  add('TRAILER!!!', 0, Buffer.alloc(0), 0, 1);
  return Buffer.concat(parts);
}

export async function writeCpio(file: string, entries: readonly CpioEntry[], mtime: number): Promise<void> {
  await writeFile(file, cpioNewc(entries, mtime));
}

/** An entry as read back from an archive: the raw mode (type and permissions), device and data. */
export interface CpioRecord {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  rdev: [number, number];
  data: Buffer;
}

/** Reads a newc archive (up to its trailer); throws on anything that is not one. */
export function readNewc(buf: Buffer): CpioRecord[] {
  const out: CpioRecord[] = [];
  const align = (n: number): number => (n + 3) & ~3;
  let off = 0;
  for (;;) {
    if (off + 110 > buf.length || buf.toString('ascii', off, off + 6) !== '070701') throw new Error(`not a newc cpio archive at byte ${off}`);
    const f = (i: number): number => parseInt(buf.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16);
    const [mode, uid, gid, mtime, size, rmaj, rmin, namesize] = [f(1), f(2), f(3), f(5), f(6), f(9), f(10), f(11)];
    const name = buf.toString('utf8', off + 110, off + 110 + namesize - 1);
    const dataAt = align(off + 110 + namesize);
    off = align(dataAt + size);
    if (name === 'TRAILER!!!') return out;
    out.push({ path: name, mode, uid, gid, mtime, rdev: [rmaj, rmin], data: buf.subarray(dataAt, dataAt + size) });
  }
}

/** The first entry in which two archives differ, in path order, said in words; undefined if none. */
export function firstCpioDifference(a: Buffer, b: Buffer): { inner: string; detail: string } | undefined {
  const ea = new Map(readNewc(a).map((e) => [e.path, e]));
  const eb = new Map(readNewc(b).map((e) => [e.path, e]));
  for (const p of [...new Set([...ea.keys(), ...eb.keys()])].sort()) {
    const x = ea.get(p);
    const y = eb.get(p);
    if (!x || !y) return { inner: p, detail: x ? 'only in the published archive' : 'only in the rebuilt archive' };
    const what = [
      x.mode !== y.mode && `mode ${x.mode.toString(8)} vs ${y.mode.toString(8)}`,
      (x.uid !== y.uid || x.gid !== y.gid) && `owner ${x.uid}:${x.gid} vs ${y.uid}:${y.gid}`,
      x.mtime !== y.mtime && `mtime ${x.mtime} vs ${y.mtime}`,
      !x.data.equals(y.data) && `contents (${x.data.length} vs ${y.data.length} bytes)`,
    ].filter(Boolean);
    if (what.length) return { inner: p, detail: what.join(', ') };
  }
  return undefined;
}
