import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Catalog } from '../catalog/load.js';
import type { ResolvedConfig } from '../config/config.js';
import { UsageError } from '../errors.js';
import { firstCpioDifference } from '../util/cpio.js';
import { sha256File } from '../util/hash.js';
import { parseSums } from '../util/sums.js';
import { targetSlug } from '../util/paths.js';
import { build, type BuildOptions } from './build.js';
import type { Manifest } from '../toolkit/manifest.js';

export interface VerifyReport {
  ok: boolean;
  target: string;
  /** Every published file: its hash on disk (`expected`) and the hash a clean rebuild gave. */
  files: { path: string; expected: string; rebuilt: string | null; same: boolean }[];
  /** For the first file that differs and is an archive: the first inner file that differs. */
  firstDifference?: { path: string; inner: string; detail: string };
  seconds: number;
}

/** Inside an archive the rebuild made differently: which member, and how (cpio for now). */
async function archiveDifference(published: string, rebuilt: string): Promise<{ inner: string; detail: string } | undefined> {
  if (!published.endsWith('.cpio')) return undefined;
  try {
    return firstCpioDifference(await readFile(published), await readFile(rebuilt));
  } catch (e) {
    return { inner: '(archive)', detail: `cannot be read as newc cpio: ${(e as Error).message}` };
  }
}

/**
 * Rebuilds a target from an empty step cache in a folder of its own, with the
 * SOURCE_DATE_EPOCH and profile of the published build, and compares every published file.
 * The images are reused: they are inputs, pinned by id in the manifest.
 */
export async function verify(
  config: ResolvedConfig,
  catalog: Catalog,
  targetName: string,
  options: BuildOptions = {},
): Promise<VerifyReport> {
  const started = Date.now();
  const target = catalog.resolve(targetName);
  const published = path.join(config.outDir, targetSlug(target.name));
  let manifest: Manifest;
  let sums: Map<string, string>;
  try {
    manifest = JSON.parse(await readFile(path.join(published, 'manifest.json'), 'utf8')) as Manifest;
    sums = parseSums(await readFile(path.join(published, 'sha256sums'), 'utf8'));
  } catch {
    throw new UsageError(`no build to verify in ${published}`, `build it first: fwbuild --target ${target.name}`);
  }
  // a project verified before it ever built here (a fresh clone of a published dist) has no cache yet
  await mkdir(config.cacheDir, { recursive: true });
  const scratch = await mkdtemp(path.join(config.cacheDir, 'verify-'));
  try {
    const rebuiltDir = path.join(scratch, 'dist');
    await build(
      {
        ...config,
        outDir: rebuiltDir,
        cacheDir: path.join(scratch, 'cache'),
        logDir: path.join(config.logDir, 'verify'),
        // the rebuild's lock is its own: verifying never rewrites the project's fwbuild.lock
        lockFile: path.join(scratch, 'fwbuild.lock'),
        sourceDateEpoch: manifest.sourceDateEpoch,
        // the OpenWrt release the published build used, even if "stable" has moved since;
        // the download folder stays the project's, so nothing is fetched again
        openwrt: { ...config.openwrt, release: manifest.inputs.openwrt?.release ?? config.openwrt.release },
      },
      catalog,
      { targets: [target.name], profile: manifest.profile },
      options,
    );
    const rebuilt = parseSums(await readFile(path.join(rebuiltDir, targetSlug(target.name), 'sha256sums'), 'utf8'));
    const files: VerifyReport['files'] = [];
    for (const [file, listed] of sums) {
      // What is on disk now, not only what sha256sums says: an altered file is caught too.
      const actual = await sha256File(path.join(published, file)).catch(() => null);
      const r = rebuilt.get(file) ?? null;
      files.push({ path: file, expected: actual ?? listed, rebuilt: r, same: r === listed && actual === listed });
    }
    for (const file of rebuilt.keys()) {
      if (!sums.has(file)) files.push({ path: file, expected: '', rebuilt: rebuilt.get(file)!, same: false });
    }
    const first = files.find((f) => !f.same && f.expected && f.rebuilt);
    const firstDifference = first && (await archiveDifference(path.join(published, first.path), path.join(rebuiltDir, targetSlug(target.name), first.path)));
    return {
      ok: files.every((f) => f.same),
      target: target.name,
      files,
      ...(firstDifference ? { firstDifference: { path: first!.path, ...firstDifference } } : {}),
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
