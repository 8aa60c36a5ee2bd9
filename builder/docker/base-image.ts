import type Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BuildError, InterruptedError } from '../errors.js';
import { sha256 } from '../util/hash.js';
import type { StepLog } from '../util/steplog.js';
import { followProgress, imageId } from './engine.js';

export interface BaseImageSpec {
  /** Repository prefix of the image */
  namespace: string;
  suite: string;
  /** Optional Debian mirror URL; mmdebstrap's own default otherwise. */
  mirror?: string;
  sourceDateEpoch: number;
}

export interface ImageResult {
  ref: string;
  id: string;
  /** false when an image with the same input hash already existed. */
  built: boolean;
}

const VARIANT = 'minbase';

/** Tag of the base image for these inputs: reused whenever the inputs are the same. */
export function baseImageRef(spec: BaseImageSpec): string {
  const key = sha256(JSON.stringify({ tool: 'mmdebstrap', variant: VARIANT, suite: spec.suite, mirror: spec.mirror ?? '' }));
  return `${spec.namespace}/base:${spec.suite}-${key.slice(0, 12)}`;
}

/**
 * No registry is needed: the base image is bootstrapped from Debian packages with mmdebstrap
 * and imported into the engine. The tarball lives only until the import is done.
 */
export async function ensureBaseImage(
  docker: Docker,
  spec: BaseImageSpec,
  work: { tmpDir: string; log: StepLog; signal: AbortSignal; say: (s: string) => void },
): Promise<ImageResult> {
  const ref = baseImageRef(spec);
  const existing = await imageId(docker, ref);
  if (existing) return { ref, id: existing, built: false };

  work.say(`no registry used: bootstrapping Debian ${spec.suite} from Debian packages (mmdebstrap)`);
  await mkdir(work.tmpDir, { recursive: true });
  const tarball = path.join(work.tmpDir, `base-${process.pid}-${Date.now()}.tar`);
  try {
    const args = [`--variant=${VARIANT}`, '--mode=auto', spec.suite, tarball, ...(spec.mirror ? [spec.mirror] : [])];
    work.log.line(`$ mmdebstrap ${args.join(' ')}`);
    await runTool('mmdebstrap', args, {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(spec.sourceDateEpoch) },
      log: work.log,
      signal: work.signal,
      missingHint: 'install it: apt-get install -y mmdebstrap',
    });
    work.say('importing the bootstrapped root file system into Docker');
    const [repo, tag] = ref.split(':') as [string, string];
    const stream = await docker.importImage(createReadStream(tarball), { repo, tag });
    await followProgress(stream, (ev) => ev.status && work.log.line(ev.status));
  } finally {
    await rm(tarball, { force: true });
  }
  const id = await imageId(docker, ref);
  if (!id) throw new BuildError(`importing ${ref} reported success but the image is missing`, undefined, work.log.file);
  return { ref, id, built: true };
}

interface ToolOptions {
  env: NodeJS.ProcessEnv;
  log: StepLog;
  signal: AbortSignal;
  missingHint: string;
}

/** Runs a host tool with its output in the step log; killed on abort. */
export function runTool(cmd: string, args: string[], o: ToolOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: o.env, stdio: ['ignore', 'pipe', 'pipe'], signal: o.signal, killSignal: 'SIGTERM' });
    child.stdout.on('data', (d: Buffer) => o.log.write(d));
    child.stderr.on('data', (d: Buffer) => o.log.write(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') reject(new InterruptedError('SIGINT'));
      else if (e.code === 'ENOENT') reject(new BuildError(`${cmd} is not installed on this host`, o.missingHint));
      else reject(e);
    });
    child.on('close', async (code) => {
      if (o.signal.aborted) return reject(new InterruptedError('SIGINT'));
      if (code === 0) return resolve();
      const tail = await o.log.tail();
      reject(new BuildError(`${cmd} failed (exit ${code}); last lines:\n${tail}\nfull log: ${o.log.file}`, undefined, o.log.file));
    });
  });
}
