/**
 * OpenWrt device builds against TEST DOUBLES of OpenWrt's server, SDK and ImageBuilder, on the
 * shared build's images and its qemu-mips twin.
 * The shared build and its lock: test/helpers/shared-build.ts.
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Catalog } from '../../../builder/catalog/load.js';
import { type Target } from '../../../builder/catalog/target.js';
import { BuildError, UsageError } from '../../../builder/errors.js';
import { BUILD_UID, StepContainer } from '../../../builder/docker/step-container.js';
import { chownTree } from '../../../builder/util/publish.js';
import { StepLog } from '../../../builder/util/steplog.js';
import { build, type BuildReport } from '../../../builder/pipeline/build.js';
import { verify } from '../../../builder/pipeline/verify.js';
import { listFiles } from '../../../builder/util/hash.js';
import { EM, readElfHeader } from '../../../builder/util/elf.js';
import { ensureOpenWrtImage } from '../../../builder/openwrt/images.js';
import { imageBuilderLayout, pack, sdkLayout, SDK_TOP, TOP } from '../../helpers/openwrt-tarballs.js';
import { IMAGEBUILDER, mirror, releaseNames, RELEASE_25, SDK } from '../../helpers/openwrt-mirror.js';
import { apkToolsSource, ensureApkToolsImage } from '../../helpers/apk-tools.js';
import type { LockData } from '../../../builder/lock/lockfile.js';
import { containersOf, docker, inContainer } from '../../helpers/docker.js';
import { runUnderQemu } from '../../../devkit/qemu-user.js';
import { tempDir } from '../../helpers/tmp.js';
import { useSharedBuild } from '../../helpers/shared-build.js';

let first: BuildReport;
let catalog: Catalog;
let shared: string;
let out: string;
let cache: string;
let namespace: string;
const { testConfig } = useSharedBuild(test, (b) => ({ first, catalog, shared, out, cache, namespace } = b));
const sh = promisify(execFile);
/** the SDK and ImageBuilder test doubles, made by the first OpenWrt test */
let owrtTarballs: { sdk: Buffer; imageBuilder: Buffer } | undefined;
/** The size of the SDK-built runner with QuickJS (the 24.10 build), for the one built without it */
let quickjsRunnerBytes = 0;

test.serial('the ImageBuilder image: the base image, Debian host tools and a checked test-double tarball; make info runs in it; reused; an escaping tarball builds nothing', async (t) => {
  const dir = await tempDir(t);
  // a test double of the ImageBuilder tarball: the real top folder and layout, a Makefile with `info`
  await imageBuilderLayout(dir);
  const name = `${TOP}.tar.zst`;
  const file = await pack(dir, path.join(dir, name), [TOP]);
  const tarball = { file, name, sha256: createHash('sha256').update(await readFile(file)).digest('hex') };
  const log = await StepLog.open(path.join(dir, 'logs'), 'openwrt', 'imagebuilder');
  const work = { log, signal: new AbortController().signal, say: () => {}, sourceDateEpoch: first.sourceDateEpoch.value, namespace, tmpDir: dir };
  const img = await ensureOpenWrtImage(docker, first.images.base, 'imagebuilder', tarball, work);
  t.true(img.built);
  t.is(img.top, TOP);
  t.regex(img.ref, new RegExp(`^${namespace}/openwrt-imagebuilder:[0-9a-f]{12}$`));
  // the ImageBuilder runs in it as the build user, with no network
  const runLog = await StepLog.open(path.join(dir, 'logs'), 'openwrt', 'make-info');
  await new StepContainer(docker, `ib-${randomBytes(4).toString('hex')}`, new AbortController().signal).run(
    { step: 'make-info', scope: 'openwrt', image: img.ref, cmd: ['make', 'info'], mounts: [], workdir: '/opt/openwrt' },
    runLog,
  );
  t.regex(await readFile(runLog.file, 'utf8'), /Current Target: "ath79\/generic"/);
  const again = await ensureOpenWrtImage(docker, first.images.base, 'imagebuilder', tarball, work);
  t.false(again.built);
  t.is(again.id, img.id);

  // the namespace's ImageBuilder images before the refused one (with FWBUILD_TEST_WARM=1 the usual namespace holds earlier ones)
  const ibImages = async () => (await docker.listImages()).flatMap((i) => i.RepoTags ?? []).filter((r) => r.startsWith(`${namespace}/openwrt-imagebuilder:`)).sort();
  const before = await ibImages();
  t.true(before.includes(img.ref));
  await symlink('../../..', path.join(dir, TOP, 'escape'));
  const evil = await pack(dir, path.join(dir, 'evil.tar.zst'), [TOP]);
  const evilTarball = { file: evil, name: 'evil.tar.zst', sha256: createHash('sha256').update(await readFile(evil)).digest('hex') };
  const e = await t.throwsAsync(ensureOpenWrtImage(docker, first.images.base, 'imagebuilder', evilTarball, work), { instanceOf: BuildError });
  t.regex(e.message, /refusing evil\.tar\.zst: extracting it could write outside its folder: .*escape \(symlink to \.\.\/\.\.\/\.\., outside the archive\)/);
  t.deepEqual(await ibImages(), before, 'no image from the refused tarball');
});

/** Runs a script in a step container of `image` with `dir` mounted at /x: how the OpenWrt doubles are made. */
const runInTree = (dir: string, image: string) => async (script: string) => {
  if (process.getuid?.() === 0) await chownTree(dir, BUILD_UID, BUILD_UID);
  const log = await StepLog.open(path.join(dir, 'logs'), 'openwrt', 'double');
  await new StepContainer(docker, `dbl-${randomBytes(4).toString('hex')}`, new AbortController().signal).run(
    { step: 'double', scope: 'openwrt', image, cmd: ['sh', '-c', script], mounts: [{ host: dir, container: '/x', readOnly: false }] },
    log,
  );
};

/**
 * OpenWrt's servers cannot be reached here: this runs `fwbuild build` for an OpenWrt device
 * against TEST DOUBLES (test/helpers/openwrt-mirror.ts, openwrt-tarballs.ts). The download server
 * is a local HTTP server; the SDK's toolchain is Debian's mips-linux-gnu gcc relocated under the
 * SDK's name; the ImageBuilder's `make image` is a script that writes a plain tar under the image
 * names. No OpenWrt SDK, ImageBuilder or image is involved.
 */
test.serial('OpenWrt build (test-double SDK, ImageBuilder and server): package, images, manifest and lock; cached; a MIPS runner that runs', async (t) => {
  const dir = await tempDir(t);
  const cwd = path.join(dir, 'project');
  await mkdir(cwd);
  // the SDK double's toolchain comes out of fwbuild's own toolchain image
  await sdkLayout(dir, runInTree(dir, first.images.toolchain.ref));
  await imageBuilderLayout(dir);
  const sdkTar = await readFile(await pack(dir, path.join(dir, SDK), [SDK_TOP]));
  const ibTar = await readFile(await pack(dir, path.join(dir, IMAGEBUILDER), [TOP]));
  owrtTarballs = { sdk: sdkTar, imageBuilder: ibTar };
  const m = await mirror(t, undefined, owrtTarballs);
  const configure = async (packages: string[]) => {
    await writeFile(
      path.join(cwd, 'fwbuild.config.json'),
      JSON.stringify({ sourceDateEpoch: first.sourceDateEpoch.value, openwrt: { release: '24.10.8', mirrors: [m.url], keys: [m.keyLine], packages } }),
    );
    return testConfig(cwd, { outDir: path.join(cwd, 'dist'), cacheDir: cache, logDir: path.join(cwd, 'logs') });
  };
  const config = await configure(['tcpdump-mini', '-dropbear']);
  const r = await build(config, catalog, { targets: ['ath79'], profile: 'tplink_archer-c7-v2' }, { renderer: 'silent', runId: `owrt-${randomBytes(3).toString('hex')}` });
  const steps = Object.fromEntries(r.targets[0]!.steps.map((s) => [s.name, s.status]));
  // BPF objects and bytecode are the qemu-mips twin's, from the cache; the rest is new
  t.deepEqual(steps, { bpf: 'cached', runner: 'cached', model: 'cached', 'sdk-runner': 'ran', package: 'ran', image: 'ran' });

  const dist = path.join(cwd, 'dist', 'ath79-generic');
  const name = 'openwrt-24.10.8-fwbuild-ath79-generic-tplink_archer-c7-v2';
  const ipkRel = 'package/fwbuild-toolkit_0.1.0-r1_mips_24kc.ipk';
  t.deepEqual((await listFiles(dist)).filter((f) => !f.startsWith('overlay/')), [
    `image/${name}-squashfs-factory.bin`,
    `image/${name}-squashfs-sysupgrade.bin`,
    `image/${name}.manifest`,
    'manifest.json',
    ipkRel,
    'sha256sums',
  ]);
  // ImageBuilder's package list: the toolkit, the config's additions, without what it removed
  const pkgs = (await readFile(path.join(dist, 'image', `${name}.manifest`), 'utf8')).trim().split('\n');
  t.true(pkgs.includes('fwbuild-toolkit - 0.1.0-r1'));
  t.true(pkgs.includes('tcpdump-mini - 1.0-r1'));
  t.false(pkgs.some((l) => l.startsWith('dropbear ')));
  t.regex(await readFile(path.join(cwd, 'logs', 'ath79-generic', 'image.log'), 'utf8'), new RegExp(`src/gz openwrt_core ${m.url}/releases/24\\.10\\.8/targets/ath79/generic/packages`), 'the feeds point at the configured mirror');

  // the .ipk as OpenWrt's ipkg-build lays it out, read by GNU tar
  const ipk = path.join(dist, ipkRel);
  t.deepEqual((await sh('tar', ['-tzf', ipk])).stdout.trim().split('\n'), ['./debian-binary', './data.tar.gz', './control.tar.gz']);
  const control = (await sh('sh', ['-c', `tar -xzOf "${ipk}" ./control.tar.gz | tar -xzO ./control`])).stdout;
  t.regex(control, /^Package: fwbuild-toolkit\nVersion: 0\.1\.0-r1\nDepends: kmod-sched-core, kmod-sched-bpf\n/);
  t.regex(control, /\nArchitecture: mips_24kc\n/);
  t.regex((await sh('sh', ['-c', `tar -xzOf "${ipk}" ./data.tar.gz | tar -tvzf -`])).stdout, /-rwxr-xr-x 0\/0 .* \.\/usr\/bin\/fwrunner\n/);

  // the image double's rootfs: the package's files and the overlay, with the init script enabled
  const rootfs = path.join(dir, 'rootfs');
  await mkdir(rootfs);
  await sh('tar', ['-xf', path.join(dist, 'image', `${name}-squashfs-sysupgrade.bin`), '-C', rootfs]);
  const twin = catalog.resolve('qemu-mips');
  const runner = path.join(rootfs, 'usr', 'bin', 'fwrunner');
  const elf = await readElfHeader(runner);
  t.is(elf.machine, EM.MIPS);
  t.is(elf.byteOrder, 'big');
  const info = await runUnderQemu(twin, [runner, 'info']);
  t.is(info.code, 0, info.stderr);
  t.like(JSON.parse(info.stdout), { byteOrder: 'big', engine: 'QuickJS 2021-03-27' });
  const withEngine = await readFile(runner);
  t.true(withEngine.includes('InternalError'), 'QuickJS is linked in');
  quickjsRunnerBytes = withEngine.length;
  // the bytecode written by the twin's runner loads in the SDK-built one
  const qbc = path.join(rootfs, 'usr', 'share', 'fwrunner', 'model.qbc');
  const run = await runUnderQemu(twin, [runner, 'run', qbc]);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(await readFile(path.join(rootfs, 'usr', 'lib', 'fwrunner', 'fw_flows.bpf.o')), await readFile(path.join(out, 'qemu-mips', 'bpf', 'fw_flows.bpf.o')));
  t.deepEqual(await readFile(qbc), await readFile(path.join(out, 'qemu-mips', 'model', 'model.qbc')));
  t.is(await readlink(path.join(rootfs, 'etc', 'rc.d', 'S95fwrunner')), '../init.d/fwrunner');
  t.regex(await readFile(path.join(rootfs, 'etc', 'config', 'fwrunner'), 'utf8'), /option model '\/usr\/share\/fwrunner\/model\.qbc'/);

  const manifest = JSON.parse(await readFile(path.join(dist, 'manifest.json'), 'utf8')) as { inputs: { openwrt: { release: string; sdk: { name: string; sha256: string }; signedBy: string } } };
  t.is(manifest.inputs.openwrt.release, '24.10.8');
  t.is(manifest.inputs.openwrt.sdk.name, SDK);
  t.is(manifest.inputs.openwrt.sdk.sha256, createHash('sha256').update(sdkTar).digest('hex'));
  const lock = JSON.parse(await readFile(path.join(cwd, 'fwbuild.lock'), 'utf8')) as LockData;
  t.is(lock.openwrt?.['ath79/generic']?.release, '24.10.8');
  t.is(lock.openwrt?.['ath79/generic']?.files[SDK], manifest.inputs.openwrt.sdk.sha256);

  // again: every step from the cache, the same bytes
  const ipkSha = createHash('sha256').update(await readFile(ipk)).digest('hex');
  const again = await build(config, catalog, { targets: ['ath79'], profile: 'tplink_archer-c7-v2' }, { renderer: 'silent' });
  t.deepEqual(again.targets[0]!.steps.map((s) => s.status), ['cached', 'cached', 'cached', 'cached', 'cached', 'cached']);
  t.is(createHash('sha256').update(await readFile(ipk)).digest('hex'), ipkSha);
  t.false(again.lock.written);

  // a rebuild from an empty step cache (the SDK's runner, the package, make image) is bit for bit the same
  const v = await verify(config, catalog, 'ath79', { renderer: 'silent' });
  t.true(v.files.length >= 6);
  t.deepEqual(v.files.filter((f) => !f.same).map((f) => f.path), []);
});

test.serial('OpenWrt build (test doubles): too big for the flash and an impossible package each get one clear message, and change nothing', async (t) => {
  const cwd = path.join(shared, 'owrt-errors');
  await mkdir(cwd, { recursive: true });
  // the test-double tarballs of the test above, served again; their images exist already
  const prev = await mirror(t, undefined, owrtTarballs!);
  const configure = async (packages: string[]) => {
    await writeFile(path.join(cwd, 'fwbuild.config.json'), JSON.stringify({ openwrt: { release: '24.10.8', mirrors: [prev.url], keys: [prev.keyLine], packages } }));
    return testConfig(cwd, { outDir: path.join(cwd, 'dist'), cacheDir: cache, logDir: path.join(cwd, 'logs') });
  };
  const runId = `owrt-${randomBytes(3).toString('hex')}`;
  const big = await t.throwsAsync(build(await configure([]), catalog, { targets: ['ath79'], profile: 'tplink_tl-wr841hp-v2' }, { renderer: 'silent', runId }), { instanceOf: BuildError });
  t.regex(big.message, /openwrt-24\.10\.8-fwbuild-ath79-generic-tplink_tl-wr841hp-v2-squashfs-sysupgrade\.bin is [\d,]+ bytes \(\d+ KiB\) too big for the device's flash \([\d,]+ bytes .* > 400,000 bytes/);
  const nopkg = await t.throwsAsync(build(await configure(['no-such-pkg']), catalog, { targets: ['ath79'], profile: 'tplink_archer-c7-v2' }, { renderer: 'silent', runId }), { instanceOf: BuildError });
  t.regex(nopkg.message, /package no-such-pkg is not in this release's package feeds/);
  const unknown = await t.throwsAsync(build(await configure([]), catalog, { targets: ['ath79'], profile: 'tplink_archer-c7-v9' }, { renderer: 'silent', runId }), { instanceOf: UsageError });
  t.regex(unknown.message, /unknown profile "tplink_archer-c7-v9" for ath79\/generic 24\.10\.8/);
  t.regex(unknown.hint ?? '', /nearest: .*tplink_archer-c7-v[0-9]/);
  t.deepEqual(await readdir(cwd), ['fwbuild.config.json', 'logs'], 'no dist, no staging folder, no lock');
  t.deepEqual(await containersOf(runId), []);
});

test.serial('OpenWrt build (test doubles) with the in-kernel model alone: the package and the image carry its object and no bytecode, and the conffile names them', async (t) => {
  const dir = await tempDir(t);
  const cwd = path.join(dir, 'project');
  await mkdir(cwd);
  // the test-double tarballs of the first build, served again; their images exist already
  const m = await mirror(t, undefined, owrtTarballs!);
  await writeFile(
    path.join(cwd, 'fwbuild.config.json'),
    JSON.stringify({ sourceDateEpoch: first.sourceDateEpoch.value, inference: 'kernel', openwrt: { release: '24.10.8', mirrors: [m.url], keys: [m.keyLine] } }),
  );
  const config = await testConfig(cwd, { outDir: path.join(cwd, 'dist'), cacheDir: cache, logDir: path.join(cwd, 'logs') });
  const r = await build(config, catalog, { targets: ['ath79'], profile: 'tplink_archer-c7-v2' }, { renderer: 'silent', runId: `owrt-${randomBytes(3).toString('hex')}` });
  // no model step and no twin runner to write bytecode: there is no QuickJS model; the runner's settings are a layer of their own
  t.deepEqual(r.targets[0]!.steps.map((s) => s.name), ['bpf', 'conffile', 'sdk-runner', 'package', 'image']);

  const dist = path.join(cwd, 'dist', 'ath79-generic');
  const ipk = path.join(dist, 'package', 'fwbuild-toolkit_0.1.0-r1_mips_24kc.ipk');
  const data = (await sh('sh', ['-c', `tar -xzOf "${ipk}" ./data.tar.gz | tar -tzf -`])).stdout.split('\n').filter((l) => l && !l.endsWith('/'));
  t.deepEqual(data, ['./usr/bin/fwrunner', './usr/lib/fwrunner/fw_flows_forest.bpf.o']);

  const rootfs = path.join(dir, 'rootfs');
  await mkdir(rootfs);
  await sh('tar', ['-xf', path.join(dist, 'image', 'openwrt-24.10.8-fwbuild-ath79-generic-tplink_archer-c7-v2-squashfs-sysupgrade.bin'), '-C', rootfs]);
  t.deepEqual(await readdir(path.join(rootfs, 'usr', 'lib', 'fwrunner')), ['fw_flows_forest.bpf.o']);
  const object = await readElfHeader(path.join(rootfs, 'usr', 'lib', 'fwrunner', 'fw_flows_forest.bpf.o'));
  t.is(object.machine, EM.BPF);
  t.is(object.byteOrder, 'big', "the twin's bpfeb object");
  t.false(existsSync(path.join(rootfs, 'usr', 'share', 'fwrunner', 'model.qbc')));
  // the SDK built the runner without QuickJS: no engine, and what needs one says so
  const runner = path.join(rootfs, 'usr', 'bin', 'fwrunner');
  const twin = catalog.resolve('qemu-mips');
  const info = await runUnderQemu(twin, [runner, 'info']);
  t.is(info.code, 0, info.stderr);
  t.like(JSON.parse(info.stdout), { byteOrder: 'big', engine: null });
  const js = await runUnderQemu(twin, [runner, 'predict', '--config', '/dev/null', '--model', '/usr/share/fwrunner/model.qbc']);
  t.is(js.code, 2);
  t.regex(js.stderr, /model \/usr\/share\/fwrunner\/model\.qbc: this fwrunner is built without QuickJS \(for inference "kernel"\)/);
  // QuickJS's own names (its error classes) are not linked in; the 24.10 build's runner has them
  const lean = await readFile(runner);
  t.false(lean.includes('InternalError'), 'no QuickJS in the binary');
  const leanBytes = lean.length;
  t.true(quickjsRunnerBytes > 0 && leanBytes < quickjsRunnerBytes, `without QuickJS ${leanBytes} bytes, with it ${quickjsRunnerBytes}`);
  t.log(`the SDK-built static runner: ${leanBytes} bytes without QuickJS, ${quickjsRunnerBytes} with it`);
  const uci = await readFile(path.join(rootfs, 'etc', 'config', 'fwrunner'), 'utf8');
  t.regex(uci, /^\toption object '\/usr\/lib\/fwrunner\/fw_flows_forest\.bpf\.o'$/m);
  t.regex(uci, /^\toption model 'none'$/m);
  // dist's overlay is what the image carries
  t.is(await readFile(path.join(dist, 'overlay', 'etc', 'config', 'fwrunner'), 'utf8'), uci);
});

/**
 * The apk kind (OpenWrt 25.12 and snapshots) against TEST DOUBLES, with the real apk-tools 3.0.6
 * (built from ../shared/tools) inside them as the 25.12 SDK and ImageBuilder ship it: the SDK's
 * `apk mkpkg` packs the toolkit, the ImageBuilder double indexes it with `apk mkndx --sign` and
 * installs it with `apk add --root`, and apk reads the result back. The toolchain is Debian's
 * relocated cross gcc, the remote feeds are a local stand-in, the image is a plain tar: no
 * OpenWrt SDK, ImageBuilder or image is involved.
 */
const apkSource = apkToolsSource('OpenWrt 25.12 integration test');
(apkSource ? test.serial : test.serial.skip)('OpenWrt 25.12 build (test-double SDK, ImageBuilder and server, real apk): .apk by the SDK\'s apk mkpkg, indexed and installed by apk, service enabled; cached; the same bytes again', async (t) => {
  const dir = await tempDir(t);
  const cwd = path.join(dir, 'project');
  await mkdir(cwd);
  const apkTools = await ensureApkToolsImage(docker, first.images.base, apkSource!, namespace);
  await sdkLayout(dir, runInTree(dir, first.images.toolchain.ref), RELEASE_25, runInTree(dir, apkTools.ref));
  await imageBuilderLayout(dir, RELEASE_25, runInTree(dir, apkTools.ref));
  const names = releaseNames(RELEASE_25);
  const tarballs = {
    sdk: await readFile(await pack(dir, path.join(dir, names.sdk), [names.sdkTop])),
    imageBuilder: await readFile(await pack(dir, path.join(dir, names.imageBuilder), [names.ibTop])),
  };
  const m = await mirror(t, undefined, tarballs, RELEASE_25);
  await writeFile(
    path.join(cwd, 'fwbuild.config.json'),
    JSON.stringify({ sourceDateEpoch: first.sourceDateEpoch.value, openwrt: { release: 'stable', mirrors: [m.url], keys: [m.keyLine], packages: ['tcpdump-mini', '-dropbear'] } }),
  );
  const config = await testConfig(cwd, { outDir: path.join(cwd, 'dist'), cacheDir: cache, logDir: path.join(cwd, 'logs') });
  const r = await build(config, catalog, { targets: ['ath79'], profile: 'tplink_archer-c7-v2' }, { renderer: 'silent', runId: `owrt-${randomBytes(3).toString('hex')}` });
  // "stable" is 25.12.5 in the server's .versions.json
  t.deepEqual(Object.fromEntries(r.targets[0]!.steps.map((s) => [s.name, s.status])), { bpf: 'cached', runner: 'cached', model: 'cached', 'sdk-runner': 'ran', package: 'ran', image: 'ran' });
  const dist = path.join(cwd, 'dist', 'ath79-generic');
  const name = 'openwrt-25.12.5-fwbuild-ath79-generic-tplink_archer-c7-v2';
  const apkRel = 'package/fwbuild-toolkit-0.1.0-r1.apk';
  t.deepEqual((await listFiles(dist)).filter((f) => !f.startsWith('overlay/')), [
    `image/${name}-squashfs-factory.bin`,
    `image/${name}-squashfs-sysupgrade.bin`,
    `image/${name}.manifest`,
    'manifest.json',
    apkRel,
    'sha256sums',
  ]);
  const log = await readFile(path.join(cwd, 'logs', 'ath79-generic', 'image.log'), 'utf8');
  t.true(log.includes(`${m.url}/releases/25.12.5/targets/ath79/generic/packages/packages.adb`), 'repositories point at the configured mirror');
  t.true(log.includes(`# https://openwrt-mirror.invalid/releases/25.12.5/packages/mips_24kc/telephony/packages.adb`), 'a commented-out feed stays as it was');
  // apk's manifest of the installed tree: the toolkit, its dependencies, the config's additions, not what it removed
  const pkgs = (await readFile(path.join(dist, 'image', `${name}.manifest`), 'utf8')).trim().split('\n');
  for (const p of ['fwbuild-toolkit 0.1.0-r1', 'kmod-sched-core 1.0-r1', 'kmod-sched-bpf 1.0-r1', 'tcpdump-mini 1.0-r1', 'base-files 1.0-r1']) t.true(pkgs.includes(p), `${p} in ${pkgs.join(', ')}`);
  t.false(pkgs.some((l) => l.startsWith('dropbear ')));

  // the package, read by the real apk
  const apkFile = path.join(dist, apkRel);
  const dump = await inContainer(apkTools.ref, '/opt/openwrt/staging_dir/host/bin/apk adbdump /p.apk', [`${apkFile}:/p.apk:ro`]);
  for (const field of ['name: fwbuild-toolkit', 'version: 0.1.0-r1', 'arch: mips_24kc', 'origin: fwbuild', '- kmod-sched-core', '- kmod-sched-bpf', 'post-install']) t.true(dump.includes(field), `${field} in the package`);

  // the image double's root tree, as apk and the post-install scripts left it
  const rootfs = path.join(dir, 'rootfs');
  await mkdir(rootfs);
  await sh('tar', ['-xf', path.join(dist, 'image', `${name}-squashfs-sysupgrade.bin`), '-C', rootfs]);
  t.deepEqual((await readFile(path.join(rootfs, 'lib', 'apk', 'packages', 'fwbuild-toolkit.list'), 'utf8')).trim().split('\n'), [
    '/etc/init.d/fwrunner',
    '/usr/bin/fwrunner',
    '/usr/lib/fwrunner/fw_flows.bpf.o',
    '/usr/share/fwrunner/model.qbc',
  ]);
  t.is(await readlink(path.join(rootfs, 'etc', 'rc.d', 'S95fwrunner')), '../init.d/fwrunner', 'the service is enabled');
  t.regex(await readFile(path.join(rootfs, 'lib', 'apk', 'db', 'installed'), 'utf8'), /P:fwbuild-toolkit\nV:0\.1\.0-r1\n[\s\S]*?D:kmod-sched-bpf kmod-sched-core\n/);
  const twin = catalog.resolve('qemu-mips');
  const info = await runUnderQemu(twin, [path.join(rootfs, 'usr', 'bin', 'fwrunner'), 'info']);
  t.is(info.code, 0, info.stderr);
  t.deepEqual(await readFile(path.join(rootfs, 'usr', 'share', 'fwrunner', 'model.qbc')), await readFile(path.join(out, 'qemu-mips', 'model', 'model.qbc')));
  const manifest = JSON.parse(await readFile(path.join(dist, 'manifest.json'), 'utf8')) as { inputs: { openwrt: { release: string } } };
  t.is(manifest.inputs.openwrt.release, '25.12.5');

  // again from the cache, then a rebuild from an empty step cache: the same bytes (the .apk included)
  const apkSha = createHash('sha256').update(await readFile(apkFile)).digest('hex');
  const again = await build(config, catalog, { targets: ['ath79'], profile: 'tplink_archer-c7-v2' }, { renderer: 'silent' });
  t.deepEqual(again.targets[0]!.steps.map((s) => s.status), ['cached', 'cached', 'cached', 'cached', 'cached', 'cached']);
  t.is(createHash('sha256').update(await readFile(apkFile)).digest('hex'), apkSha);
  const v = await verify(config, catalog, 'ath79', { renderer: 'silent' });
  t.deepEqual(v.files.filter((f) => !f.same).map((f) => f.path), []);
  t.true(v.files.some((f) => f.path === apkRel && f.same), 'the .apk rebuilt bit for bit');

  // apk's refusals get one line each: a package no feed has
  await writeFile(path.join(cwd, 'fwbuild.config.json'), JSON.stringify({ openwrt: { release: 'stable', mirrors: [m.url], keys: [m.keyLine], packages: ['no-such-pkg'] } }));
  const bad = await testConfig(cwd, { outDir: path.join(dir, 'dist-bad'), cacheDir: cache, logDir: path.join(cwd, 'logs') });
  const runId = `owrt-${randomBytes(3).toString('hex')}`;
  const e = await t.throwsAsync(build(bad, catalog, { targets: ['ath79'], profile: 'tplink_archer-c7-v2' }, { renderer: 'silent', runId }), { instanceOf: BuildError });
  t.regex(e.message, /package no-such-pkg is not in this release's package feeds/);
  t.deepEqual(await containersOf(runId), []);

  // an ImageBuilder whose package_index leaves the toolkit out (its signing key is broken, and the
  // Makefile's `|| true` hides that): caught before make image, with the likely cause
  await writeFile(path.join(dir, names.ibTop, 'keys', 'local-private-key.pem'), 'untrusted comment: Local build key\nnot a key\n');
  const brokenIb = await readFile(await pack(dir, path.join(dir, `broken-${names.imageBuilder}`), [names.ibTop]));
  const m2 = await mirror(t, undefined, { sdk: tarballs.sdk, imageBuilder: brokenIb }, RELEASE_25);
  await writeFile(path.join(cwd, 'fwbuild.config.json'), JSON.stringify({ openwrt: { release: 'stable', mirrors: [m2.url], keys: [m2.keyLine], packages: [] } }));
  const e2 = await t.throwsAsync(build(await testConfig(cwd, { outDir: path.join(dir, 'dist-bad'), cacheDir: cache, logDir: path.join(cwd, 'logs') }), catalog, { targets: ['ath79'], profile: 'tplink_archer-c7-v2' }, { renderer: 'silent', runId }), { instanceOf: BuildError });
  t.regex(e2.message, /packages\/packages\.adb has no fwbuild-toolkit: apk indexes packages\/ unsigned, so the ImageBuilder's signing key \(keys\/local-private-key\.pem\) is what failed/);
  t.false(existsSync(path.join(dir, 'dist-bad')), 'nothing published');
  t.deepEqual(await containersOf(runId), []);
});
