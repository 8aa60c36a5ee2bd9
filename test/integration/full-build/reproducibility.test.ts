/**
 * The same inputs give the same bytes: rebuilds in other caches and processes, verify, the
 * step cache, fwbuild.lock.
 * The shared build and its lock: test/helpers/shared-build.ts.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Catalog } from '../../../builder/catalog/load.js';
import { BuildError } from '../../../builder/errors.js';
import { build, type BuildReport } from '../../../builder/pipeline/build.js';
import { verify } from '../../../builder/pipeline/verify.js';
import { targetSlug } from '../../../builder/util/paths.js';
import { runCli } from '../../helpers/cli.js';
import { cpioNewc, readNewc, type CpioEntry } from '../../../builder/util/cpio.js';
import type { LockData } from '../../../builder/lock/lockfile.js';
import { containersOf } from '../../helpers/docker.js';
import { tempDir } from '../../helpers/tmp.js';
import { useSharedBuild } from '../../helpers/shared-build.js';

let first: BuildReport;
let catalog: Catalog;
let out: string;
let cache: string;
let cold: boolean;
const { testConfig, cliProject } = useSharedBuild(test, (b) => ({ first, catalog, out, cache, cold } = b));

test.serial('a second cold build, later, in another cache and under umask 077, gives byte-identical outputs (qemu-mips, qemu-armv7)', async (t) => {
  const dir = await cliProject(t);
  // The CLI as a user runs it, with a restrictive umask; the first build ran in this process
  // minutes earlier with the usual 022. The big-endian kernel and busybox are rebuilt too.
  const r = await runCli(['--target', 'qemu-mips,qemu-armv7', '--json', '--out-dir', 'dist', '--cache-dir', 'cache'], { cwd: dir, umask: '077' });
  t.is(r.code, 0, r.stderr.slice(-3000));
  const again = JSON.parse(r.stdout) as BuildReport;
  t.false(again.images.base.built);
  t.false(again.images.toolchain.built);
  t.is(again.images.toolchain.id, first.images.toolchain.id);
  for (const rep of again.targets) {
    t.true(rep.steps.every((s) => s.status === 'ran'), `${rep.target}: an empty cache runs every step`);
    const before = first.targets.find((x) => x.target === rep.target)!;
    t.deepEqual(
      rep.artifacts.map((a) => [a.path, a.sha256]),
      before.artifacts.map((a) => [a.path, a.sha256]),
      `${rep.target} rebuilt bit for bit`,
    );
    const slug = targetSlug(rep.target);
    t.is(await readFile(path.join(dir, 'dist', slug, 'sha256sums'), 'utf8'), await readFile(path.join(out, slug, 'sha256sums'), 'utf8'));
  }
  t.log(`cold rebuild of qemu-mips and qemu-armv7 (kernel and busybox included), warm images: ${again.seconds.toFixed(1)} s`);
});

test.serial('two fwbuild processes at once on one empty cache both succeed alike, and leave the cache whole', async (t) => {
  const dir = await cliProject(t);
  const run = (outDir: string) => runCli(['--target', 'qemu-armv7', '--json', '--out-dir', outDir, '--cache-dir', 'cache'], { cwd: dir });
  const [a, b] = await Promise.all([run('a'), run('b')]);
  t.is(a.code, 0, a.stderr.slice(-2000));
  t.is(b.code, 0, b.stderr.slice(-2000));
  t.is(await readFile(path.join(dir, 'a', 'qemu-armv7', 'sha256sums'), 'utf8'), await readFile(path.join(dir, 'b', 'qemu-armv7', 'sha256sums'), 'utf8'));
  // every entry they stored verifies: a third build takes each step from the cache
  const c = await runCli(['--target', 'qemu-armv7', '--json', '--out-dir', 'c', '--cache-dir', 'cache'], { cwd: dir });
  t.is(c.code, 0, c.stderr.slice(-2000));
  const rep = (JSON.parse(c.stdout) as BuildReport).targets[0]!;
  t.deepEqual(rep.steps.filter((s) => s.status !== 'cached').map((s) => s.name), []);
  t.deepEqual(await readdir(path.join(dir, 'cache', 'steps')).then((e) => e.filter((n) => n.includes('.tmp-'))), [], 'no half-stored entry');
});

test.serial('verify rebuilds from an empty cache and finds every file identical, or names the one that differs', async (t) => {
  const dir = await tempDir(t);
  const config = await testConfig(dir, { outDir: path.join(dir, 'dist'), cacheDir: path.join(dir, 'cache'), logDir: path.join(dir, 'logs') });
  await build(config, catalog, { targets: ['qemu-armv7'] }, { renderer: 'silent' });
  const good = await verify(config, catalog, 'qemu-armv7', { renderer: 'silent' });
  t.true(good.ok, JSON.stringify(good.files.filter((f) => !f.same)));
  t.true(good.files.length >= 8);
  t.log(`verify qemu-armv7: ${good.files.length} files identical in ${good.seconds.toFixed(1)} s`);
  // A published file altered after the build is named, whether or not sha256sums was edited too.
  await writeFile(path.join(dir, 'dist', 'qemu-armv7', 'model', 'model.qbc'), 'altered');
  const bad = await verify(config, catalog, 'qemu-armv7', { renderer: 'silent' });
  t.false(bad.ok);
  t.deepEqual(bad.files.filter((f) => !f.same).map((f) => f.path), ['model/model.qbc']);
  t.is(bad.firstDifference, undefined, 'not an archive: no inner file to name');
  // An archive that differs: verify names the member inside it, and how it differs.
  const cpio = path.join(dir, 'dist', 'qemu-armv7', 'image', 'initramfs.cpio');
  const members = readNewc(await readFile(cpio));
  await writeFile(path.join(dir, 'dist', 'qemu-armv7', 'model', 'model.qbc'), await readFile(path.join(out, 'qemu-armv7', 'model', 'model.qbc')));
  await writeFile(
    cpio,
    cpioNewc(
      members.map((m): CpioEntry => {
        const type = m.mode & 0o170000;
        if (type === 0o040000) return { path: m.path, type: 'dir', mode: m.mode & 0o7777 };
        if (type === 0o120000) return { path: m.path, type: 'symlink', target: m.data.toString() };
        if (type === 0o020000) return { path: m.path, type: 'char', major: m.rdev[0], minor: m.rdev[1], mode: m.mode & 0o7777 };
        return { path: m.path, type: 'file', mode: m.mode & 0o7777, data: m.path === 'etc/inittab' ? Buffer.from('::sysinit:/bin/sh\n') : m.data };
      }),
      members[0]!.mtime,
    ),
  );
  const inner = await verify(config, catalog, 'qemu-armv7', { renderer: 'silent' });
  t.deepEqual(inner.files.filter((f) => !f.same).map((f) => f.path), ['image/initramfs.cpio']);
  t.like(inner.firstDifference, { path: 'image/initramfs.cpio', inner: 'etc/inittab' });
  t.regex(inner.firstDifference!.detail, /^contents \(18 vs \d+ bytes\)$/);
});

test.serial('with nothing changed no step runs; a new model reruns only the model steps', async (t) => {
  const dir = await tempDir(t);
  const config = await testConfig(dir, { outDir: path.join(dir, 'dist'), cacheDir: cache, logDir: path.join(dir, 'logs') });
  const runId = `noop-${randomBytes(4).toString('hex')}`;
  const noop = await build(config, catalog, { targets: ['qemu-mips'] }, { renderer: 'silent', runId });
  t.deepEqual(noop.targets[0]!.steps.map((s) => [s.name, s.status]), [['bpf', 'cached'], ['runner', 'cached'], ['model', 'cached'], ['kernel', 'cached'], ['userland', 'cached'], ['image', 'cached']]);
  t.deepEqual(
    noop.targets[0]!.artifacts.map((a) => a.sha256),
    first.targets.find((x) => x.target === 'qemu-mips')!.artifacts.map((a) => a.sha256),
  );
  t.log(`no-op build: ${noop.seconds.toFixed(2)} s`);

  const model = path.join(dir, 'model.js');
  await writeFile(model, 'function predict(f) { return { cls: f.downPayload > 1e6 ? "hd" : "sd" }; }\n');
  const changed = await build({ ...config, model }, catalog, { targets: ['qemu-mips'] }, { renderer: 'silent' });
  t.deepEqual(changed.targets[0]!.steps.map((s) => [s.name, s.status]), [['bpf', 'cached'], ['runner', 'cached'], ['model', 'ran'], ['kernel', 'cached'], ['userland', 'cached'], ['image', 'ran']]);
  t.log(`model-only rebuild: ${changed.seconds.toFixed(2)} s`);
});

test.serial('fwbuild.lock: the first build writes it; --frozen passes unchanged and fails, naming the input, when one differs', async (t) => {
  const dir = await tempDir(t);
  const config = await testConfig(dir, { outDir: path.join(dir, 'dist'), cacheDir: cache, logDir: path.join(dir, 'logs') });
  t.is(config.lockFile, path.join(dir, 'fwbuild.lock'), 'next to the config (here: the working folder)');
  const first = await build(config, catalog, { targets: ['qemu-armv7'] }, { renderer: 'silent' });
  t.true(first.lock.written);
  t.deepEqual(first.lock.changes, ['(new lock file)']);
  const lock = JSON.parse(await readFile(config.lockFile, 'utf8')) as LockData;
  t.is(lock.images!.toolchain.id, first.images.toolchain.id);
  t.is(lock.images!.base.id, first.images.base.id);
  t.regex(lock.packages!['linux-source-6.1:all'] ?? '', /^6\.1\./, 'the kernel source version');
  t.regex(lock.packages!['gcc-mips-linux-gnu:amd64'] ?? '', /^\d/, 'the cross compilers');
  t.true(lock.downloads!.some((d) => /^busybox_.*\.dsc$/.test(d)), 'the busybox source package');
  t.true(lock.downloads!.some((d) => /^linux-image-.*armmp.*_armhf\.deb$/.test(d)), 'the armmp kernel package');
  t.regex(lock.sources!.quickjs.integrity, /^sha512-/);

  const again = await build(config, catalog, { targets: ['qemu-armv7'] }, { renderer: 'silent', frozen: true });
  t.deepEqual(again.lock.changes, [], 'nothing changed: --frozen passes');
  t.false(again.lock.written);

  // The lock says another compiler version was used: under --frozen that stops the build
  // before any step, names the package, and leaves the lock as it was.
  lock.packages!['gcc-mips-linux-gnu:amd64'] = '0.0-locked';
  await writeFile(config.lockFile, JSON.stringify(lock));
  const runId = `frozen-${randomBytes(4).toString('hex')}`;
  const err = await t.throwsAsync(build(config, catalog, { targets: ['qemu-armv7'] }, { renderer: 'silent', frozen: true, runId }), {
    instanceOf: BuildError,
  });
  t.regex(err.message, /--frozen: the inputs differ from .*fwbuild\.lock:\n  packages\.gcc-mips-linux-gnu:amd64: 0\.0-locked -> \d/);
  t.is(err.exitCode, 1);
  t.deepEqual(await containersOf(runId), []);
  t.is((JSON.parse(await readFile(config.lockFile, 'utf8')) as LockData).packages!['gcc-mips-linux-gnu:amd64'], '0.0-locked');
  // Without --frozen the build goes on, says what changed, and updates the lock.
  const updated = await build(config, catalog, { targets: ['qemu-armv7'] }, { renderer: 'silent' });
  t.true(updated.lock.written);
  t.is(updated.lock.changes.length, 1);
  t.regex(updated.lock.changes[0]!, /^packages\.gcc-mips-linux-gnu:amd64: 0\.0-locked -> \d/);
});

test.serial('a tampered step-cache entry is detected and the step runs again', async (t) => {
  const dir = await tempDir(t);
  const config = await testConfig(dir, { outDir: path.join(dir, 'dist'), cacheDir: cache, logDir: path.join(dir, 'logs') });
  const key = first.targets.find((x) => x.target === 'qemu-mipsel')!.steps.find((s) => s.name === 'bpf')!.key;
  await writeFile(path.join(cache, 'steps', key, 'bpf', 'fw_flows.bpf.o'), 'tampered');
  const r = await build(config, catalog, { targets: ['qemu-mipsel'] }, { renderer: 'silent' });
  t.deepEqual(r.targets[0]!.steps.map((s) => [s.name, s.status]), [['bpf', 'ran'], ['runner', 'cached'], ['model', 'cached'], ['kernel', 'cached'], ['userland', 'cached'], ['image', 'cached']]);
  const obj = r.targets[0]!.artifacts.find((a) => a.kind === 'bpf-object')!;
  t.is(obj.sha256, first.targets.find((x) => x.target === 'qemu-mipsel')!.artifacts.find((a) => a.kind === 'bpf-object')!.sha256);
});
