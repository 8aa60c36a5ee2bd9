/**
 * checkTarball on tarballs made here with Debian's tar, zstd and xz: test doubles in the
 * layout of OpenWrt's ImageBuilder (one top folder, relative symlinks inside it), and archives
 * built to escape their folder.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BuildError } from '../../../builder/errors.js';
import { checkTarball } from '../../../builder/openwrt/tarball.js';
import { imageBuilderLayout, pack, TOP } from '../../helpers/openwrt-tarballs.js';
import { tempDir } from '../../helpers/tmp.js';
import { rawTar, type RawEntry } from '../../helpers/raw-tar.js';
import { projectPath } from '../../../builder/util/paths.js';

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

/** A raw tar written header by header, compressed with Debian's zstd as OpenWrt's are. */
async function rawZst(dir: string, name: string, entries: RawEntry[]): Promise<string> {
  const plain = path.join(dir, `${name}.tar`);
  await writeFile(plain, rawTar(entries));
  await sh('zstd', ['-q', '-f', '--rm', plain, '-o', path.join(dir, `${name}.tar.zst`)]);
  return path.join(dir, `${name}.tar.zst`);
}

const sdkDir: RawEntry = { name: 'sdk/', type: '5' };
const linkToEtc: RawEntry = { name: 'sdk/link', type: '2', linkname: '/etc' };

test('headers two readers could read two ways, and every spelling of a path through a link, are refused', async (t) => {
  const dir = await tempDir(t);
  const cases: [string, RawEntry[], RegExp][] = [
    // node-tar skips these headers with a warning where GNU tar extracts something
    ['file-with-linkname', [sdkDir, { name: 'sdk/null', type: '0', linkname: '/dev/null' }], /entry 2 \(TAR_ENTRY_INVALID: linkpath forbidden\)/],
    ['empty-name', [sdkDir, { name: '', type: '0', data: Buffer.from('x') }], /entry 2 \(TAR_ENTRY_INVALID: path is required\)/],
    ['dot-through-link', [sdkDir, linkToEtc, { name: 'sdk/./link/passwd', type: '0', data: Buffer.from('x') }], /sdk\/\.\/link\/passwd \(inside a symlink\)/],
    ['slashes-through-link', [sdkDir, linkToEtc, { name: 'sdk//link/passwd', type: '0', data: Buffer.from('x') }], /sdk\/\/link\/passwd \(inside a symlink\)/],
    ['prefix-lookalike', [sdkDir, { name: 'sdk/evil', type: '2', linkname: '../sdkevil' }], /sdk\/evil \(symlink to \.\.\/sdkevil, outside the archive\)/],
    ['hardlink-through-link', [sdkDir, linkToEtc, { name: 'sdk/shadow', type: '1', linkname: 'sdk/link/shadow' }], /sdk\/shadow \(hard link to sdk\/link\/shadow, through a symlink\)/],
    ['char-device', [sdkDir, { name: 'sdk/null', type: '3', dev: [1, 3] }], /sdk\/null \(CharacterDevice\)/],
    ['fifo', [sdkDir, { name: 'sdk/pipe', type: '6' }], /sdk\/pipe \(FIFO\)/],
  ];
  for (const [name, entries, re] of cases) {
    const file = await rawZst(dir, name, entries);
    const e = await t.throwsAsync(checkTarball(file), { instanceOf: BuildError }, name);
    t.regex(e.message, re, name);
  }
  // the same writer's honest archive passes: the refusals are the entries, not the writer
  const ok = await rawZst(dir, 'ok', [sdkDir, { name: 'sdk/Makefile', type: '0', data: Buffer.from('all:\n') }, { name: 'sdk/m', type: '2', linkname: 'Makefile' }, { name: 'sdk/h', type: '1', linkname: 'sdk/Makefile' }]);
  t.deepEqual(await checkTarball(ok), { top: 'sdk', entries: 4 });
});

test('an archive that expands past the cap is refused while it is read, without reading the rest', async (t) => {
  const dir = await tempDir(t);
  // 64 MiB of zeros compresses to a few KB
  const bomb = await rawZst(dir, 'bomb', [sdkDir, { name: 'sdk/zeros', type: '0', data: Buffer.alloc(64 * 1024 * 1024) }]);
  t.log(`${(await stat(bomb)).size} bytes compressed`);
  const e = await t.throwsAsync(checkTarball(bomb, 'bomb.tar.zst', 16 * 1024 * 1024), { instanceOf: BuildError });
  t.is(e.message, 'refusing bomb.tar.zst: it expands to more than 16777216 bytes, far more than an OpenWrt SDK or ImageBuilder holds');
  t.deepEqual(await checkTarball(bomb, 'bomb.tar.zst', 128 * 1024 * 1024), { top: 'sdk', entries: 2 }, 'under the cap it passes');
});

test('the image build extracts as an unprivileged user: a device node or FIFO that got past the check still fails it', async (t) => {
  if (process.getuid?.() !== 0) return t.pass('needs root to change to another user, as the image build does');
  const dir = await tempDir(t);
  await chmod(dir, 0o755); // the unprivileged user must reach the archive and the destination
  const script = projectPath('docker', 'openwrt', 'extract.sh');
  const run = (archive: string, dest: string) => sh('sh', [script, archive, dest, '65534']);
  const device = await rawZst(dir, 'device', [sdkDir, { name: 'sdk/null', type: '3', dev: [1, 3] }]);
  await t.throwsAsync(run(device, path.join(dir, 'd1')), { message: /Cannot mknod: Operation not permitted/ });
  t.deepEqual(await readdir(path.join(dir, 'd1')), [], 'no device node made');
  const fifo = await rawZst(dir, 'fifo', [sdkDir, { name: 'sdk/pipe', type: '6' }]);
  await t.throwsAsync(run(fifo, path.join(dir, 'd2')), { message: /made entries that are not files, folders or symlinks: .*\/d2\/pipe/ });
  const good = await rawZst(dir, 'good', [sdkDir, { name: 'sdk/bin/', type: '5' }, { name: 'sdk/bin/tool', type: '0', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 }]);
  await run(good, path.join(dir, 'd3'));
  const st = await stat(path.join(dir, 'd3', 'bin', 'tool'));
  t.is(st.uid, 65534, 'owned by the user that extracted it');
  t.is(st.mode & 0o111, 0o111, 'executable bits kept');
});
