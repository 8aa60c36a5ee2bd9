import { cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listFiles, sha256File } from '../util/hash.js';

/**
 * Content-addressed store of step outputs: `<cacheDir>/steps/<key>/` holds what a step wrote,
 * plus `.entry.json` with every file's sha256. An entry is used only if every file still
 * matches; a tampered or half-written entry is dropped and the step runs again.
 */
export class StepCache {
  constructor(private readonly root: string) {}

  private dir(key: string): string {
    return path.join(this.root, 'steps', key);
  }

  /** Copies a verified entry into `dest`; false (and the entry removed) when absent or damaged. */
  async restore(key: string, dest: string): Promise<boolean> {
    const dir = this.dir(key);
    let entry: { files: Record<string, string> };
    try {
      entry = JSON.parse(await readFile(path.join(dir, '.entry.json'), 'utf8')) as typeof entry;
    } catch {
      return false;
    }
    const files = (await listFiles(dir)).filter((f) => f !== '.entry.json');
    const expected = Object.keys(entry.files).sort();
    let ok = files.length === expected.length && files.every((f, i) => f === expected[i]);
    for (const f of ok ? files : []) {
      if ((await sha256File(path.join(dir, f))) !== entry.files[f]) {
        ok = false;
        break;
      }
    }
    if (!ok) {
      await rm(dir, { recursive: true, force: true });
      return false;
    }
    await rm(dest, { recursive: true, force: true });
    await cp(dir, dest, { recursive: true, filter: (src) => path.basename(src) !== '.entry.json' });
    return true;
  }

  /** Stores `src` under `key`, atomically: concurrent writers of one key leave one intact entry. */
  async store(key: string, src: string): Promise<void> {
    const dir = this.dir(key);
    if (await stat(dir).then(() => true, () => false)) return;
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(path.dirname(dir), { recursive: true });
    await cp(src, tmp, { recursive: true });
    const files: Record<string, string> = {};
    for (const f of await listFiles(tmp)) files[f] = await sha256File(path.join(tmp, f));
    await writeFile(path.join(tmp, '.entry.json'), `${JSON.stringify({ files }, null, 1)}\n`);
    try {
      await rename(tmp, dir);
    } catch {
      await rm(tmp, { recursive: true, force: true }); // another process stored it first
    }
  }
}
