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
