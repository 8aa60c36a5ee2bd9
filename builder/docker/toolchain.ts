import type Docker from 'dockerode';
import path from 'node:path';
import type { ResolvedConfig } from '../config/config.js';
import { StepLog } from '../util/steplog.js';
import { ensureBaseImage, type ImageResult } from './base-image.js';
import { ensureToolchainImage } from './toolchain-image.js';

export interface Toolchain {
  base: ImageResult;
  toolchain: ImageResult;
}

/**
 * The base image, then the toolchain image on top of it; each reused when its input hash
 * matches. Logs go to `<logDir>/toolchain/`.
 */
export function ensureBase(
  docker: Docker,
  config: ResolvedConfig,
  o: { signal: AbortSignal; sourceDateEpoch: number; say?: (s: string) => void },
): Promise<ImageResult> {
  return StepLog.with(config.logDir, 'toolchain', 'base-image', (log) =>
    ensureBaseImage(docker, { ...config.debian, namespace: config.docker.namespace, sourceDateEpoch: o.sourceDateEpoch }, {
      tmpDir: path.join(config.cacheDir, 'tmp'),
      log,
      signal: o.signal,
      say: o.say ?? (() => {}),
    }),
  );
}

export function ensureToolchainOn(
  docker: Docker,
  base: ImageResult,
  config: ResolvedConfig,
  o: { signal: AbortSignal; sourceDateEpoch: number; say?: (s: string) => void },
): Promise<ImageResult> {
  return StepLog.with(config.logDir, 'toolchain', 'toolchain-image', (log) =>
    ensureToolchainImage(docker, base, {
      log,
      signal: o.signal,
      sourceDateEpoch: o.sourceDateEpoch,
      namespace: config.docker.namespace,
      say: o.say ?? (() => {}),
    }),
  );
}

export async function ensureToolchain(
  docker: Docker,
  config: ResolvedConfig,
  o: { signal: AbortSignal; sourceDateEpoch: number },
): Promise<Toolchain> {
  const base = await ensureBase(docker, config, o);
  return { base, toolchain: await ensureToolchainOn(docker, base, config, o) };
}
