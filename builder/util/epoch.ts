import { execFileSync } from 'node:child_process';
import { projectRoot } from './paths.js';

export interface Epoch {
  value: number;
  from: 'config' | 'environment' | 'git' | 'default';
}

/** 1980-01-01, the earliest time every archive format we write can hold. */
const FALLBACK = 315532800;

/**
 * SOURCE_DATE_EPOCH for every step: the config wins, then the environment (the
 * reproducible-builds convention), then the commit time of the fwbuild checkout.
 */
export function resolveEpoch(fromConfig: number | undefined, env: NodeJS.ProcessEnv = process.env): Epoch {
  if (fromConfig !== undefined) return { value: fromConfig, from: 'config' };
  const e = env.SOURCE_DATE_EPOCH;
  if (e && /^\d+$/.test(e)) return { value: Number(e), from: 'environment' };
  try {
    const out = execFileSync('git', ['-C', projectRoot, 'log', '-1', '--format=%ct'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (/^\d+$/.test(out)) return { value: Number(out), from: 'git' };
  } catch {
    // not a git checkout (an npm tarball install): fall through
  }
  return { value: FALLBACK, from: 'default' };
}
