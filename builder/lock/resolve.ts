import type Docker from 'dockerode';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../config/config.js';
import type { ImageResult } from '../docker/base-image.js';
import { readImageFile } from '../docker/image-file.js';
import type { NpmSource } from '../sources/npm-source.js';
import { writeFileAtomic } from '../util/atomic.js';
import { parseDpkgLock, type LockData } from './lockfile.js';

/** The package list the toolchain image recorded when it was built. */
export const IMAGE_PACKAGE_LIST = '/usr/share/fwbuild/dpkg.lock';

/**
 * The lock data of this build. The image's package list is read once per image id and kept in
 * the cache folder (an image id names its content, so the copy never goes stale).
 */
export async function resolveLock(
  docker: Docker,
  config: ResolvedConfig,
  base: ImageResult,
  toolchain: ImageResult,
  quickjs: NpmSource,
): Promise<LockData> {
  const cached = path.join(config.cacheDir, 'images', `${toolchain.id.replace(/^sha256:/, '')}.dpkg.lock`);
  let list = await readFile(cached, 'utf8').catch(() => undefined);
  if (list === undefined) {
    list = (await readImageFile(docker, toolchain.ref, IMAGE_PACKAGE_LIST)).toString('utf8');
    await writeFileAtomic(cached, list);
  }
  return {
    lockfileVersion: 1,
    debian: { suite: config.debian.suite, mirror: config.debian.mirror ?? null },
    images: { base: { ref: base.ref, id: base.id }, toolchain: { ref: toolchain.ref, id: toolchain.id } },
    ...parseDpkgLock(list),
    sources: { quickjs: { npm: quickjs.npm, integrity: quickjs.integrity } },
  };
}
