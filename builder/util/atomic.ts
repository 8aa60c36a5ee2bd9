import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Writes beside the target and renames over it: a reader sees the old file or the new one, never half. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}
