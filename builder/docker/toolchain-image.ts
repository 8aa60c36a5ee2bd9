import type Docker from 'dockerode';
import { BuildError } from '../errors.js';
import { packTree } from '../util/archive.js';
import { hashTree, sha256 } from '../util/hash.js';
import { projectPath } from '../util/paths.js';
import type { StepLog } from '../util/steplog.js';
import type { ImageResult } from './base-image.js';
import { followProgress, imageId } from './engine.js';

/**
 * The toolchain image is tagged by a hash of its inputs (the base image id and the build
 * context), so an unchanged toolchain is never rebuilt and a changed one never reused.
 */
export async function ensureToolchainImage(
  docker: Docker,
  base: ImageResult,
  work: { log: StepLog; signal: AbortSignal; say: (s: string) => void; sourceDateEpoch: number; namespace: string },
): Promise<ImageResult> {
  const context = projectPath('docker', 'toolchain');
  const key = sha256(`${base.id}\n${await hashTree(context)}`);
  const ref = `${work.namespace}/toolchain:${key.slice(0, 12)}`;
  const existing = await imageId(docker, ref);
  if (existing) return { ref, id: existing, built: false };

  work.say(`building ${ref} from Debian packages`);
  const stream = await docker.buildImage(packTree(context, work.sourceDateEpoch), {
    t: ref,
    buildargs: { BASE: base.ref },
    labels: { 'fwbuild.inputs': key },
    rm: true,
    forcerm: true,
    abortSignal: work.signal,
  });
  await followProgress(stream, (ev) => {
    const text = ev.stream ?? ev.status;
    if (!text) return;
    work.log.write(text);
    const line = text.trim();
    if (line.startsWith('Step ')) work.say(line);
  }).catch(async (e: Error) => {
    const tail = await work.log.tail();
    throw new BuildError(`building ${ref} failed: ${e.message}\n${tail}\nfull log: ${work.log.file}`, undefined, work.log.file);
  });
  const id = await imageId(docker, ref);
  if (!id) throw new BuildError(`building ${ref} reported success but the image is missing`, undefined, work.log.file);
  return { ref, id, built: true };
}
