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
  /** Bytes the kept files may add up to; a source archive past this is refused (default 64 MiB). */
  maxBytes?: number;
}

/** Source archives fwbuild extracts (QuickJS: about 6 MB) are far below this. */
export const EXTRACT_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Extracts an archive we did not write. Only regular files and folders are accepted; any entry
 * that is absolute, climbs out with `..`, or is a link or a device node fails the whole
 * extraction and leaves nothing behind.
 */
export async function extractSafe(archive: string, dest: string, options: ExtractOptions = {}): Promise<void> {
  const prefix = options.prefix ?? '';
  const maxBytes = options.maxBytes ?? EXTRACT_MAX_BYTES;
  const refused: string[] = [];
  let kept = 0;
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
        if (!p.startsWith(prefix)) return false;
        // the header's size is what extraction writes: nothing past the cap reaches the disk
        kept += 'size' in entry && typeof entry.size === 'number' ? entry.size : 0;
        return kept <= maxBytes;
      },
    });
    if (kept > maxBytes) {
      throw new BuildError(`refusing ${path.basename(archive)}: it expands to more than ${maxBytes} bytes, far more than a source archive holds`);
    }
    if (refused.length > 0) {
      throw new BuildError(
        `refusing ${path.basename(archive)}: unsafe entries ${refused.slice(0, 3).join(', ')}${refused.length > 3 ? ', …' : ''}`,
      );
    }
  } catch (e) {
    // node-tar rejects as soon as it refuses, while writes it started may still be landing:
    // rm retries a folder that is not empty yet (ENOTEMPTY, seen under load) instead of failing
    await rm(dest, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    // node-tar's own refusals (a decompression ratio past 1000, a corrupt stream) in one line
    if ((e as { tarCode?: string }).tarCode) throw new BuildError(`refusing ${path.basename(archive)}: ${(e as Error).message}`);
    throw e;
  }
}
