import { writeFile } from 'node:fs/promises';

/** One initramfs entry; the archive is built from data, never from the host's file metadata. */
export type CpioEntry =
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'file'; data: Buffer; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);

/**
 * A newc ("070701") cpio archive as the kernel unpacks initramfs: entries sorted by path,
 * owner 0:0, one mtime, inode numbers by position. The same entries give the same bytes.
 */
export function cpioNewc(entries: readonly CpioEntry[], mtime: number): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts: Buffer[] = [];
  const add = (name: string, mode: number, data: Buffer, ino: number, nlink: number): void => {
    const nameZ = Buffer.from(`${name}\0`);
    const fields = [ino, mode, 0, 0, nlink, mtime, data.length, 0, 0, 0, 0, nameZ.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).toUpperCase().padStart(8, '0')).join('')}`);
    parts.push(header, nameZ, pad4(header.length + nameZ.length), data, pad4(data.length));
  };
  sorted.forEach((e, i) => {
    const path = e.path.replace(/^\/+/, '');
    if (e.type === 'dir') add(path, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), i + 1, 2);
    else add(path, S_IFREG | (e.mode ?? 0o644), e.data, i + 1, 1);
  });
  add('TRAILER!!!', 0, Buffer.alloc(0), 0, 1);
  return Buffer.concat(parts);
}

export async function writeCpio(file: string, entries: readonly CpioEntry[], mtime: number): Promise<void> {
  await writeFile(file, cpioNewc(entries, mtime));
}
