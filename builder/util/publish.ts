import { chown, lchown, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces `final` with the finished folder `staged` so a reader sees the old output or the new
 * one, never half of either. Both live in the same parent, so the renames are atomic.
 */
export async function publishDir(staged: string, final: string): Promise<void> {
  const old = `${final}.old-${process.pid}`;
  const had = await stat(final).then(
    () => true,
    () => false,
  );
  if (had) await rename(final, old);
  try {
    await rename(staged, final);
  } catch (e) {
    if (had) await rename(old, final);
    throw e;
  }
  if (had) await rm(old, { recursive: true, force: true });
}

/** Gives a tree to `uid:gid` (build containers write as an unprivileged user); links themselves, never their targets. */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await lchown(p, uid, gid);
  }
}
