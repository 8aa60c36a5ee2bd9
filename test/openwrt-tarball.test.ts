/**
 * checkTarball on tarballs made here with Debian's tar, zstd and xz: test doubles in the
 * layout of OpenWrt's ImageBuilder (one top folder, relative symlinks inside it), and archives
 * built to escape their folder.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BuildError } from '../builder/errors.js';
import { checkTarball } from '../builder/openwrt/tarball.js';
import { imageBuilderLayout, pack, TOP } from './helpers/openwrt-tarballs.js';
import { tempDir } from './helpers/tmp.js';

const sh = promisify(execFile);

test('an ImageBuilder-shaped tarball passes, as .tar.zst and as .tar.xz: one top folder, links inside it', async (t) => {
  const dir = await tempDir(t);
  await imageBuilderLayout(dir);
  for (const ext of ['tar.zst', 'tar.xz']) {
    const file = await pack(dir, path.join(dir, `ib.${ext}`), [TOP]);
    const r = await checkTarball(file);
    t.is(r.top, TOP);
    // every file and folder of the layout, each read
    const members = (await sh('tar', ['-tf', file])).stdout.trim().split('\n');
    t.is(r.entries, members.length, ext);
    t.true(r.entries >= 15, ext);
  }
});

test('entries that would land outside the folder are refused, naming them', async (t) => {
  const dir = await tempDir(t);
  await imageBuilderLayout(dir);
  const outside = path.join(dir, 'outside');
  await mkdir(outside);
  await writeFile(path.join(outside, 'evil'), 'x');
  // "../outside/evil" kept as written (-P), an absolute name, a symlink climbing out, and a file written through a symlink
  const climb = await pack(path.join(dir, TOP), path.join(dir, 'climb.tar.zst'), ['Makefile', '../outside/evil'], ['-P']);
  await t.throwsAsync(checkTarball(climb), { instanceOf: BuildError, message: /refusing climb\.tar\.zst: .*\.\.\/outside\/evil \("\.\." in the path\)/ });
  const abs = await pack(dir, path.join(dir, 'abs.tar.zst'), [path.join(outside, 'evil')], ['-P']);
  await t.throwsAsync(checkTarball(abs), { message: /\(absolute path\)/ });

  await symlink('../../../..', path.join(dir, TOP, 'escape'));
  const link = await pack(dir, path.join(dir, 'link.tar.xz'), [TOP]);
  await t.throwsAsync(checkTarball(link), { message: new RegExp(`${TOP}/escape \\(symlink to \\.\\./\\.\\./\\.\\./\\.\\., outside the archive\\)`) });

  // a symlink to a folder, then a file "inside" it: tar would write through the link
  const two = path.join(dir, 'two');
  await mkdir(path.join(two, TOP), { recursive: true });
  await symlink('/etc', path.join(two, TOP, 'etc-link'));
  const plain = path.join(dir, 'through.tar');
  await sh('tar', ['-C', two, '-cf', plain, TOP]);
  await mkdir(path.join(dir, 'three', TOP, 'etc-link'), { recursive: true });
  await writeFile(path.join(dir, 'three', TOP, 'etc-link', 'passwd'), 'root::0:0::/:/bin/sh\n');
  await sh('tar', ['-C', path.join(dir, 'three'), '-rf', plain, `${TOP}/etc-link/passwd`]);
  await sh('zstd', ['-q', '-f', plain, '-o', path.join(dir, 'through.tar.zst')]);
  await t.throwsAsync(checkTarball(path.join(dir, 'through.tar.zst')), { message: new RegExp(`${TOP}/etc-link/passwd \\(inside a symlink\\)`) });
});

test('a file that is not a tarball, or of another format, is refused with the reason', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'junk.tar.zst'), 'not zstd');
  await t.throwsAsync(checkTarball(path.join(dir, 'junk.tar.zst')), { message: /junk\.tar\.zst: zstd failed \(exit 1\)/ });
  await t.throwsAsync(checkTarball(path.join(dir, 'x.zip')), { message: /expected a \.tar\.zst or \.tar\.xz OpenWrt tarball/ });
});
