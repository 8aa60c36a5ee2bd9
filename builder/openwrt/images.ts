import type Docker from 'dockerode';
import { cp, link, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ImageResult } from '../docker/base-image.js';
import { followProgress, imageId } from '../docker/engine.js';
import { BuildError } from '../errors.js';
import { packTree } from '../util/archive.js';
import { hashTree, sha256 } from '../util/hash.js';
import { projectPath } from '../util/paths.js';
import type { StepLog } from '../util/steplog.js';
import { checkTarball } from './tarball.js';

export type OpenWrtKit = 'sdk' | 'imagebuilder';

/**
 * The Docker image of an OpenWrt SDK or ImageBuilder: fwbuild's base image, Debian's host tools
 * and the verified tarball under /opt/openwrt. Tagged by a hash of the base image, the tarball's
 * sha256 and docker/openwrt/, so a second build reuses it.
 */
export async function ensureOpenWrtImage(
  docker: Docker,
  base: ImageResult,
  kit: OpenWrtKit,
  tarball: { file: string; name: string; sha256: string },
  work: { log: StepLog; signal: AbortSignal; say: (s: string) => void; sourceDateEpoch: number; namespace: string; tmpDir: string },
): Promise<ImageResult & { top: string }> {
  const context = projectPath('docker', 'openwrt');
  const key = sha256(`${base.id}\n${kit}\n${tarball.sha256}\n${await hashTree(context)}`);
  const ref = `${work.namespace}/openwrt-${kit}:${key.slice(0, 12)}`;
  // every header is read first, also for an image that exists: it names what it was made from
  const { top } = await checkTarball(tarball.file, tarball.name);
  const existing = await imageId(docker, ref);
  if (existing) return { ref, id: existing, built: false, top };

  const ext = tarball.name.endsWith('.tar.zst') ? 'tar.zst' : 'tar.xz';
  const archive = `openwrt.${ext}`;
  const dir = await mkdtemp(path.join(work.tmpDir, `openwrt-${kit}-`));
  try {
    // the Dockerfile and package list beside a hard link to the download: no copy of a large file
    await cp(context, dir, { recursive: true });
    await link(tarball.file, path.join(dir, archive)).catch(() => cp(tarball.file, path.join(dir, archive)));
    work.say(`building ${ref} from ${tarball.name}`);
    const stream = await docker.buildImage(packTree(dir, work.sourceDateEpoch), {
      t: ref,
      buildargs: { BASE: base.ref, ARCHIVE: archive },
      labels: { 'fwbuild.inputs': key, 'fwbuild.openwrt': tarball.name },
      rm: true,
      forcerm: true,
      abortSignal: work.signal,
    });
    await followProgress(stream, (ev) => {
      const text = ev.stream ?? ev.status;
      if (text) work.log.write(text);
    }).catch(async (e: Error) => {
      throw new BuildError(`building ${ref} failed: ${e.message}\n${await work.log.tail()}\nfull log: ${work.log.file}`, undefined, work.log.file);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const id = await imageId(docker, ref);
  if (!id) throw new BuildError(`building ${ref} reported success but the image is missing`, undefined, work.log.file);
  return { ref, id, built: true, top };
}
