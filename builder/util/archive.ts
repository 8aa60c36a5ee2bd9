import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { BuildError } from '../errors.js';
import { listFiles } from './hash.js';

/**
 * A tar stream of `dir` that depends only on the files' names, contents and executable bit:
 * sorted entries, one mtime, no owner names or ids.
 */
export function packTree(dir: string, sourceDateEpoch: number): Readable {
  const pack = new tar.Pack({ cwd: dir, portable: true, mtime: new Date(sourceDateEpoch * 1000), noDirRecurse: true });
  void listFiles(dir).then(
    (files) => {
      for (const f of files) pack.add(f);
      pack.end();
    },
    (e: Error) => pack.emit('error', e),
  );
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

export interface ExtractOptions {
  /** Keep only entries under this prefix, which is stripped (e.g. `package/deps/quickjs_2021_03_27/`). */
  prefix?: string;
}

/**
 * Extracts an archive we did not write. Only regular files and folders are accepted; any entry
 * that is absolute, climbs out with `..`, or is a link or a device node fails the whole
 * extraction and leaves nothing behind.
 */
export async function extractSafe(archive: string, dest: string, options: ExtractOptions = {}): Promise<void> {
  const prefix = options.prefix ?? '';
  const refused: string[] = [];
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true });
  try {
    await tar.x({
      file: archive,
      cwd: dest,
      strip: prefix ? prefix.split('/').filter(Boolean).length : 0,
      preserveOwner: false,
      filter: (p, entry) => {
        const type = 'type' in entry ? entry.type : 'File';
        const unsafe =
          path.isAbsolute(p) || p.split(/[\\/]/).includes('..') || (type !== 'File' && type !== 'Directory' && type !== 'OldFile');
        if (unsafe) {
          refused.push(`${p} (${type})`);
          return false;
        }
        return p.startsWith(prefix);
      },
    });
    if (refused.length > 0) {
      throw new BuildError(
        `refusing ${path.basename(archive)}: unsafe entries ${refused.slice(0, 3).join(', ')}${refused.length > 3 ? ', …' : ''}`,
      );
    }
  } catch (e) {
    await rm(dest, { recursive: true, force: true });
    throw e;
  }
}
