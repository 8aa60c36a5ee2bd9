import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../config/config.js';
import { BUILD_UID } from '../docker/step-container.js';
import { UsageError } from '../errors.js';
import type { NpmSource } from '../sources/npm-source.js';
import type { SourceName } from '../toolkit/steps.js';
import { hashTree, sha256File } from '../util/hash.js';
import { projectPath, projectRoot } from '../util/paths.js';

export type QuickjsSource = NpmSource & { version: string; patches: string[] };

/** The pinned QuickJS source archive (runner/quickjs.json). */
export const quickjsSource = async (): Promise<QuickjsSource> =>
  JSON.parse(await readFile(projectPath('runner', 'quickjs.json'), 'utf8')) as QuickjsSource;

/** Host folders of the sources a step can mount; the kernel fragment is the target's own. */
export function sourcePaths(config: ResolvedConfig, quickjsDir: string, kernelConfig: string | undefined): Record<SourceName, string> {
  return {
    bpf: projectPath('bpf'),
    runner: projectPath('runner'),
    quickjs: quickjsDir,
    model: config.model,
    kernelConfig: projectPath('targets', 'kernels', `${kernelConfig ?? 'none'}.config`),
    overlays: projectPath('overlays'),
  };
}

/** Everything a compile step can read, hashed: a change to any of it changes the step keys. */
export async function sourceHashes(config: ResolvedConfig, quickjs: QuickjsSource): Promise<Record<SourceName, string>> {
  return {
    bpf: await hashTree(projectPath('bpf')),
    runner: await hashTree(projectPath('runner')),
    quickjs: quickjs.integrity,
    model: await sha256File(config.model),
    // per target; the target entry (in every key) names the file
    kernelConfig: await hashTree(projectPath('targets', 'kernels')),
    // modes count: an init script must stay executable in the image
    overlays: await hashTree(projectPath('overlays'), { modes: true }),
  };
}

/**
 * Steps run as an unprivileged user and read the sources through read-only mounts: a checkout
 * made under umask 077 would fail deep inside a step. Say so before anything runs.
 */
export async function checkReadableByBuildUser(config: ResolvedConfig): Promise<void> {
  const roots = [projectPath('bpf'), projectPath('runner'), projectPath('targets', 'kernels'), projectPath('overlays'), config.model];
  const bad: string[] = [];
  const visit = async (p: string): Promise<void> => {
    const st = await stat(p);
    if (!(st.mode & 0o004) || (st.isDirectory() && !(st.mode & 0o001))) bad.push(displayPath(p));
    if (st.isDirectory()) for (const e of (await readdir(p)).sort()) await visit(path.join(p, e));
  };
  for (const r of roots) await visit(r);
  if (bad.length > 0) {
    throw new UsageError(
      `the build user (uid ${BUILD_UID}) cannot read ${bad.length} source path(s): ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}`,
      `make them world-readable: chmod -R a+rX ${[...new Set(bad.map((b) => b.split(path.sep)[0]))].join(' ')}`,
    );
  }
}

/** Paths inside the checkout are recorded relative to it, so manifests do not depend on where it lives. */
export const displayPath = (p: string): string => (p.startsWith(projectRoot + path.sep) ? path.relative(projectRoot, p) : p);
