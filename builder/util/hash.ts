import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every regular file under `dir`, relative, sorted bytewise so the order never depends on the host. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A hash over a folder's file names and contents: the cache key of a source tree. With `modes`,
 * whether each file is executable counts too (the only mode bit a build keeps).
 */
export async function hashTree(dir: string, o: { modes?: boolean } = {}): Promise<string> {
  const h = createHash('sha256');
  for (const rel of await listFiles(dir)) {
    h.update(`${rel}\0`);
    if (o.modes) h.update((await stat(path.join(dir, rel))).mode & 0o111 ? 'x\0' : '-\0');
    h.update(await readFile(path.join(dir, rel)));
    h.update('\0');
  }
  return h.digest('hex');
}
