/**
 * Test doubles of OpenWrt's ImageBuilder tarball: the real top folder name and layout (a
 * Makefile with an `info` target, repositories.conf, scripts/, staging_dir/host/bin links),
 * none of the real contents. Packed with Debian's tar, zstd and xz.
 */
import { execFile } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const sh = promisify(execFile);
export const TOP = 'openwrt-imagebuilder-24.10.8-ath79-generic.Linux-x86_64';

/** Packs `dir`'s `members` with GNU tar (names as given, so `../x` and `/x` stay) and compresses. */
export async function pack(dir: string, out: string, members: string[], extra: string[] = []): Promise<string> {
  const tarFile = `${out}.tar`;
  await sh('tar', ['-C', dir, '-cf', tarFile, '--owner=0', '--group=0', ...extra, ...members]);
  if (out.endsWith('.zst')) await sh('zstd', ['-q', '-f', '--rm', tarFile, '-o', out]);
  else await sh('xz', ['-f', '-T1', tarFile]).then(() => sh('mv', [`${tarFile}.xz`, out]));
  return out;
}

export async function imageBuilderLayout(root: string): Promise<void> {
  const top = path.join(root, TOP);
  await mkdir(path.join(top, 'staging_dir', 'host', 'bin'), { recursive: true });
  await mkdir(path.join(top, 'scripts'), { recursive: true });
  await writeFile(path.join(top, 'Makefile'), '# test double of the ImageBuilder Makefile\ninfo:\n\t@echo \'Current Target: "ath79/generic"\'\n');
  await writeFile(path.join(top, 'repositories.conf'), 'src/gz openwrt_core file:packages\n');
  await writeFile(path.join(top, 'scripts', 'ipkg-build'), '#!/bin/sh\n');
  await symlink('../../../scripts/ipkg-build', path.join(top, 'staging_dir', 'host', 'bin', 'ipkg-build'));
  await symlink('/usr/bin/python3', path.join(top, 'staging_dir', 'host', 'bin', 'python3'));
}

