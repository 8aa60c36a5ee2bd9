import type Docker from 'dockerode';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ImageResult } from '../../builder/docker/base-image.js';
import { imageId } from '../../builder/docker/engine.js';
import { buildImageFrom } from './docker.js';
import { hashTree, sha256 } from '../../builder/util/hash.js';
import { projectPath } from '../../builder/util/paths.js';

/**
 * Third-party sources the tests build, kept outside the project (never copied into it): the
 * folder comes from FWBUILD_SHARED_TOOLS, by default ../shared/tools beside the checkout.
 */
export const sharedTools = (): string => process.env.FWBUILD_SHARED_TOOLS ?? path.resolve(projectPath(), '..', 'shared', 'tools');
export const APK_TOOLS = 'apk-tools-3.0.6.tar.gz';

/**
 * The apk-tools source for the tests of `who`, or undefined after one line saying what they need.
 * Under FWBUILD_REQUIRE_SHARED_TOOLS=1 (as .ci/run sets it) its absence is an error, not a skip.
 */
export function apkToolsSource(who: string): string | undefined {
  const source = path.join(sharedTools(), APK_TOOLS);
  if (existsSync(source)) return source;
  if (process.env.FWBUILD_REQUIRE_SHARED_TOOLS === '1') throw new Error(`FWBUILD_REQUIRE_SHARED_TOOLS=1 but ${source} is missing`);
  console.log(`${who}: skipped, needs ${source} (set FWBUILD_SHARED_TOOLS to the folder that holds ${APK_TOOLS})`);
  return undefined;
}

/**
 * fwbuild's base image with apk-tools built from `source` and laid out as in OpenWrt's SDK
 * (/opt/openwrt/staging_dir/host/bin/apk). Tagged by the hash of the base image, the source and
 * the build files: built once.
 */
export async function ensureApkToolsImage(docker: Docker, base: ImageResult, source: string, namespace: string): Promise<ImageResult> {
  const context = projectPath('test', 'helpers', 'apk-tools');
  const key = sha256(`${base.id}\n${sha256(await readFile(source))}\n${await hashTree(context)}`);
  const ref = `${namespace}/apk-tools:${key.slice(0, 12)}`;
  const existing = await imageId(docker, ref);
  if (existing) return { ref, id: existing, built: false };
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-apk-tools-'));
  try {
    for (const f of ['Dockerfile', 'apk-wrapper.sh']) await copyFile(path.join(context, f), path.join(dir, f));
    await copyFile(source, path.join(dir, 'apk-tools.tar.gz'));
    return { ref, id: await buildImageFrom(ref, dir, { BASE: base.ref }), built: true };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
