import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { diffLock, parseDpkgLock, readLock, writeLock, type LockData } from '../../builder/lock/lockfile.js';
import { BuildError } from '../../builder/errors.js';

const list = 'gcc-mips-linux-gnu\t4:12.2.0-3\tamd64\nlibc6\t2.36-9+deb12u9\tamd64\n' + 'busybox_1.35.0-4+deb12u1.dsc\nlinux-image-armmp_6.1.176-1_armhf.deb\n';

const lock = (over: Partial<LockData> = {}): LockData => ({
  lockfileVersion: 1,
  debian: { suite: 'bookworm', mirror: null },
  images: { base: { ref: 'fwbuild/base:x', id: 'sha256:aa' }, toolchain: { ref: 'fwbuild/toolchain:y', id: 'sha256:bb' } },
  ...parseDpkgLock(list),
  sources: { quickjs: { npm: 'qjsc@0.3.0', integrity: 'sha512-q' } },
  ...over,
});

test('the image package list becomes name:arch -> version, and the downloaded files a sorted list', (t) => {
  const p = parseDpkgLock(list);
  t.deepEqual(p.packages, { 'gcc-mips-linux-gnu:amd64': '4:12.2.0-3', 'libc6:amd64': '2.36-9+deb12u9' });
  t.deepEqual(p.downloads, ['busybox_1.35.0-4+deb12u1.dsc', 'linux-image-armmp_6.1.176-1_armhf.deb']);
});

test('diffLock names each changed, added and removed value; equal locks give nothing', (t) => {
  t.deepEqual(diffLock(lock(), lock()), []);
  const after = lock();
  after.packages!['libc6:amd64'] = '2.36-9+deb12u10';
  after.packages!['zstd:amd64'] = '1.5.4';
  delete after.packages!['gcc-mips-linux-gnu:amd64'];
  after.downloads = ['busybox_1.35.0-4+deb12u2.dsc', 'linux-image-armmp_6.1.176-1_armhf.deb'];
  after.images!.toolchain.id = 'sha256:cc';
  t.deepEqual(diffLock(lock(), after), [
    'removed downloads[busybox_1.35.0-4+deb12u1.dsc]',
    'added downloads[busybox_1.35.0-4+deb12u2.dsc]',
    'images.toolchain.id: sha256:bb -> sha256:cc',
    'removed packages.gcc-mips-linux-gnu:amd64 (was 4:12.2.0-3)',
    'packages.libc6:amd64: 2.36-9+deb12u9 -> 2.36-9+deb12u10',
    'added packages.zstd:amd64 = 1.5.4',
  ]);
});

test('the lock file round-trips; a file that is not a lock is refused with a way out', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'fwbuild.lock');
  t.is(await readLock(file), undefined, 'no lock yet');
  await writeLock(file, lock());
  t.deepEqual(await readLock(file), lock());
  t.true((await readFile(file, 'utf8')).endsWith('}\n'));
  await writeFile(file, '{"lockfileVersion": 7}');
  const e = await t.throwsAsync(readLock(file), { instanceOf: BuildError });
  t.regex(e.message, /is not a fwbuild lock file: lockfileVersion 7 is not 1/);
  t.regex(e.hint ?? '', /delete it and build again/);
});
