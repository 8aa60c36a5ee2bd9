import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BuildError, InterruptedError } from '../errors.js';
import { extractSafe } from '../util/archive.js';

const execFileP = promisify(execFile);

/** A source archive published on the npm registry, pinned by its Subresource Integrity hash. */
export interface NpmSource {
  /** `name@version` */
  npm: string;
  /** `sha512-<base64>` as npm records it */
  integrity: string;
  /** Folder inside the archive to keep (stripped on extraction). */
  path: string;
}

function parseIntegrity(sri: string): { algo: string; digest: string } {
  const m = /^(sha256|sha384|sha512)-([A-Za-z0-9+/=]+)$/.exec(sri.trim());
  if (!m) throw new BuildError(`integrity "${sri}" is not a sha256/384/512 SRI string`);
  return { algo: m[1]!, digest: m[2]! };
}

async function digestOf(file: string, algo: string): Promise<string> {
  const h = createHash(algo);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('base64');
}

/** Content-addressed file name for an integrity string (base64 is not file-name safe). */
export const integrityKey = (sri: string): string => {
  const { algo, digest } = parseIntegrity(sri);
  return `${algo}-${Buffer.from(digest, 'base64').toString('hex')}`;
};

/**
 * Downloads the archive with `npm pack` (npm's own registry configuration decides where from),
 * checks it against the pinned integrity before anything reads it, and keeps it in the
 * content-addressed download folder. A cached file is re-verified on every use.
 */
export async function fetchNpmSource(src: NpmSource, downloads: string, signal: AbortSignal): Promise<string> {
  const { algo, digest } = parseIntegrity(src.integrity);
  const final = path.join(downloads, `${integrityKey(src.integrity)}.tgz`);
  await mkdir(downloads, { recursive: true });
  if (await stat(final).catch(() => undefined)) {
    if ((await digestOf(final, algo)) === digest) return final;
    await rm(final, { force: true }); // tampered or truncated: fetch again
  }
  const tmp = await mkdtemp(path.join(downloads, '.fetch-'));
  try {
    let out: string;
    try {
      ({ stdout: out } = await execFileP('npm', ['pack', src.npm, '--json', '--pack-destination', tmp], {
        signal,
        maxBuffer: 16 << 20,
      }));
    } catch (e) {
      if (signal.aborted) throw new InterruptedError('SIGINT');
      const msg = ((e as { stderr?: string }).stderr ?? (e as Error).message).trim().split('\n').slice(-3).join(' ');
      throw new BuildError(`could not fetch ${src.npm} with npm pack: ${msg}`, 'check npm\'s registry setting (`npm config get registry`) and the network');
    }
    const [info] = JSON.parse(out) as { filename: string }[];
    if (!info) throw new BuildError(`npm pack ${src.npm} reported no file`);
    const file = path.join(tmp, info.filename);
    const got = await digestOf(file, algo);
    if (got !== digest) {
      throw new BuildError(
        `${src.npm}: integrity mismatch: expected ${src.integrity}, got ${algo}-${got}; the download was discarded`,
      );
    }
    await rename(file, final);
    return final;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Fetches, verifies and extracts once; later calls reuse the extracted tree. */
export async function prepareNpmSource(src: NpmSource, cacheDir: string, signal: AbortSignal): Promise<string> {
  const dest = path.join(cacheDir, 'sources', integrityKey(src.integrity).slice(0, 23));
  if (await stat(path.join(dest, '.complete')).catch(() => undefined)) return dest;
  const archive = await fetchNpmSource(src, path.join(cacheDir, 'downloads'), signal);
  const tmp = `${dest}.tmp-${process.pid}`;
  await extractSafe(archive, tmp, { prefix: src.path });
  await writeFile(path.join(tmp, '.complete'), `${src.integrity}\n`);
  // Another fwbuild on this cache may have finished first, and may be using its tree in a
  // build right now: a complete tree is never replaced, only an incomplete one.
  if (!(await stat(path.join(dest, '.complete')).catch(() => undefined))) await rm(dest, { recursive: true, force: true });
  try {
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (!(await stat(path.join(dest, '.complete')).catch(() => undefined))) throw e;
  }
  return dest;
}
