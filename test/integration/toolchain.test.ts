/**
 * Real Docker, real Debian cross compilers, real qemu-user: the toolchain image is built from
 * Debian packages, from nothing, under an image namespace of its own (other test files share
 * fwbuild's usual images meanwhile; FWBUILD_TEST_WARM=1 uses those instead), the toolkit is
 * built for every debian target, and the binaries are run on emulated CPUs.
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Catalog, loadCatalog } from '../../builder/catalog/load.js';
import { isVirtualRouter, type Target } from '../../builder/catalog/target.js';
import { loadConfig } from '../../builder/config/load.js';
import { BuildError, UsageError } from '../../builder/errors.js';
import { BUILD_UID, StepContainer } from '../../builder/docker/step-container.js';
import { chownTree } from '../../builder/util/publish.js';
import { StepLog } from '../../builder/util/steplog.js';
import { build, type BuildReport } from '../../builder/pipeline/build.js';
import { verify } from '../../builder/pipeline/verify.js';
import { listFiles } from '../../builder/util/hash.js';
import { arm32JitBlockers, EM, machineForFamily, readElfHeader } from '../../builder/util/elf.js';
import { projectPath, targetSlug } from '../../builder/util/paths.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { LAB_PREFIX, testRouter, type RouterTestReport } from '../../builder/vrouter/router-test.js';
import { Netns } from '../../builder/vrouter/netns.js';
import { ensureOpenWrtImage } from '../../builder/openwrt/images.js';
import { imageBuilderLayout, pack, sdkLayout, SDK_TOP, TOP } from '../helpers/openwrt-tarballs.js';
import { IMAGEBUILDER, mirror, releaseNames, RELEASE_25, SDK } from '../helpers/openwrt-mirror.js';
import { apkToolsSource, ensureApkToolsImage } from '../helpers/apk-tools.js';
import { cpioNewc, readNewc, type CpioEntry } from '../../builder/util/cpio.js';
import type { LockData } from '../../builder/lock/lockfile.js';
import { containersOf, docker, inContainer, removeImages } from '../helpers/docker.js';
import { referencePredictions } from '../helpers/model.js';
import { runUnderQemu } from '../../devkit/qemu-user.js';
import { tempDir } from '../helpers/tmp.js';


let first: BuildReport;
/** the SDK and ImageBuilder test doubles, made by the first OpenWrt test */
let owrtTarballs: { sdk: Buffer; imageBuilder: Buffer } | undefined;
let catalog: Catalog;
const sh = promisify(execFile);
let debianTargets: Target[];
let shared: string;
let out: string;
let cache: string;
const cold = process.env.FWBUILD_TEST_WARM !== '1';
const namespace = cold ? `fwbuild-cold-${randomBytes(3).toString('hex')}` : 'fwbuild';
/** Loads a config for a test folder, with this file's image namespace. */
async function testConfig(cwd: string, overrides: { outDir: string; cacheDir: string; logDir: string }) {
  const c = await loadConfig({ cwd, env: {}, overrides });
  return { ...c, docker: { ...c.docker, namespace } };
}

// One build shared by the tests below: created before them, removed after all of them.
test.before(async () => {
  shared = await mkdtemp(path.join(tmpdir(), 'fwbuild-int-'));
  out = path.join(shared, 'dist');
  cache = path.join(shared, 'cache');
});
test.after.always(async () => {
  await rm(shared, { recursive: true, force: true });
  if (cold) await removeImages(namespace);
});

test.serial('the toolchain image builds from Debian packages and the toolkit for every debian target', async (t) => {
  t.log(cold ? `cold: images under ${namespace}/` : 'warm: fwbuild/ images reused (FWBUILD_TEST_WARM=1)');
  catalog = await loadCatalog();
  debianTargets = catalog.targets.filter(isVirtualRouter);
  const config = await testConfig(shared, { outDir: out, cacheDir: cache, logDir: path.join(shared, 'logs') });
  first = await build(config, catalog, { targets: debianTargets.map((x) => x.name) }, { renderer: 'silent' });
  if (cold) {
    t.true(first.images.base.built, 'base image bootstrapped from Debian packages');
    t.true(first.images.toolchain.built, 'toolchain image built');
  }
  t.is(first.images.toolchain.ref.split(':')[0], `${namespace}/toolchain`);
  t.regex(first.images.toolchain.ref, /:[0-9a-f]{12}$/, 'tagged by a hash of its inputs');
  t.deepEqual(first.targets.map((x) => x.target).sort(), debianTargets.map((x) => x.name).sort());
  t.log(`build of ${debianTargets.length} targets: ${first.seconds.toFixed(1)} s`);
  for (const r of first.targets) t.deepEqual(r.steps.map((s) => s.name), ['bpf', 'runner', 'model', 'kernel', 'userland', 'image']);
});

test.serial('BPF objects are EM_BPF in the target byte order; runners carry the target machine and byte order', async (t) => {
  for (const target of debianTargets) {
    const dir = path.join(out, targetSlug(target.name));
    const bpf = await readElfHeader(path.join(dir, 'bpf', 'fw_flows.bpf.o'));
    t.is(bpf.machine, EM.BPF, target.name);
    t.is(bpf.bits, 64);
    t.is(bpf.byteOrder, target.bpf === 'bpfeb' ? 'big' : 'little', `${target.name} BPF byte order`);
    const runner = await readElfHeader(path.join(dir, 'bin', 'fwrunner'));
    t.is(runner.machine, machineForFamily(target.cpu.family), `${target.name} e_machine`);
    t.is(runner.byteOrder, target.cpu.endian, `${target.name} runner byte order`);
    t.is(runner.bits, target.cpu.family === 'aarch64' ? 64 : 32);
    t.is(runner.type, 2, 'ET_EXEC: static executable');
  }
  // Nothing the ARM32 JIT of Linux 6.1 refuses (it would fail the load with ENOTSUPP).
  for (const target of debianTargets) {
    const obj = await readFile(path.join(out, targetSlug(target.name), 'bpf', 'fw_flows.bpf.o'));
    t.deepEqual(arm32JitBlockers(obj), { atomics: 0, div64: 0, calls: 0 }, `${target.name}: loadable by the ARM32 JIT`);
  }
  // qemu-mips is the ath79 twin: both must be big-endian.
  const mips = await readElfHeader(path.join(out, 'qemu-mips', 'bpf', 'fw_flows.bpf.o'));
  t.is(mips.byteOrder, 'big');
});

test.serial('dist holds sha256sums in OpenWrt format and a manifest naming every artifact and input', async (t) => {
  for (const target of debianTargets) {
    const dir = path.join(out, targetSlug(target.name));
    const sums = (await readFile(path.join(dir, 'sha256sums'), 'utf8')).trim().split('\n');
    t.deepEqual(sums.map((l) => l.split(' *')[1]).filter((f) => !f?.startsWith('kernel/')).sort(), [
      'bin/fwrunner',
      'bpf/fw_flows.bpf.o',
      'image/initramfs.cpio',
      'manifest.json',
      'model/model.qbc',
      'overlay/etc/config/fwrunner',
      'overlay/etc/fwbuild/router.conf',
      'overlay/etc/init.d/fwrunner',
      'overlay/etc/init.d/rcS',
      'overlay/etc/inittab',
      'userland/busybox',
      'userland/busybox.links',
    ]);
    t.true(sums.some((l) => / \*kernel\/vmlinu/.test(l)), 'the kernel is listed');
    // The virtual routers get the plain init script, not OpenWrt's procd one.
    const init = await readFile(path.join(dir, 'overlay', 'etc', 'init.d', 'fwrunner'), 'utf8');
    t.regex(init, /^#!\/bin\/sh\n/);
    t.notRegex(init, /USE_PROCD/);
    for (const l of sums) t.regex(l, /^[0-9a-f]{64} \*\S+$/);
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as {
      target: string;
      artifacts: { path: string; kind: string; arch: string; sha256: string }[];
      inputs: { toolchainImage: { id: string }; quickjs: { integrity: string; patches: unknown[] }; sources: Record<string, string> };
      qemu?: { argv: string[] };
    };
    t.is(manifest.target, target.name);
    for (const a of manifest.artifacts) {
      t.true(sums.includes(`${a.sha256} *${a.path}`), `${a.path} listed with the same hash`);
    }
    t.deepEqual([...new Set(manifest.artifacts.map((a) => a.kind))].sort(), ['bpf-object', 'initramfs', 'kernel', 'model', 'runner', 'userland']);
    // the exact QEMU command line, with the tap devices left for fwbuild test to fill in
    t.is(manifest.qemu!.argv[0], target.qemu!.system);
    t.true(manifest.qemu!.argv.includes('image/initramfs.cpio'));
    t.true(manifest.qemu!.argv.some((a) => a.startsWith('tap,id=lan,ifname={lanTap}')));
    t.regex(manifest.inputs.toolchainImage.id, /^sha256:[0-9a-f]{64}$/);
    t.regex(manifest.inputs.quickjs.integrity, /^sha512-/);
    t.is(manifest.inputs.quickjs.patches.length, 1);
    t.regex(manifest.inputs.sources.bpf!, /^[0-9a-f]{64}$/);
    t.deepEqual((await readdir(out)).filter((f) => f.startsWith('.')), [], 'no staging folders left');
  }
});

test.serial('no artifact embeds a build path (the containers\' work folders, the checkout) or this host\'s name', async (t) => {
  const needles = ['/tmp/work', '/src/runner', '/src/bpf', '/deps/quickjs', '/tmp/linux-source', '/tmp/bb/', '/tmp/k/', '/home/build', projectPath()];
  // a short host name would match by chance inside binary data
  if (hostname().length >= 6) needles.push(hostname());
  for (const target of debianTargets) {
    const dir = path.join(out, targetSlug(target.name));
    for (const rel of await listFiles(dir)) {
      const data = await readFile(path.join(dir, rel));
      for (const n of needles) t.false(data.includes(n), `${target.name}/${rel} contains ${n}`);
    }
  }
});

test.serial('the runner evaluates JavaScript under qemu-user on every target, DataView and byte order included', async (t) => {
  const endianJs = projectPath('test', 'fixtures', 'endianness.js');
  const modelJs = projectPath('test', 'fixtures', 'model-like.js');
  const expectedModel = JSON.stringify(
    [[100, 10, 1], [5000, 20, 9], [1000, 60, 2], [3000, 70, 6]].map((f) => {
      // the same logic, evaluated by Node: the reference the emulated CPUs must match
      const tree0 = f[0]! <= 1200 ? (f[1]! <= 30 ? 0 : 1) : f[2]! <= 5 ? 2 : 3;
      const tree1 = f[1]! <= 50 ? (f[0]! <= 800 ? 0 : 2) : 3;
      const votes = [0, 0, 0, 0];
      votes[tree0]!++;
      votes[tree1]!++;
      let best = 0;
      for (let i = 1; i < 4; i++) if (votes[i]! > votes[best]!) best = i;
      return { cls: best, votes, mean: f.reduce((a, b) => a + b, 0) / f.length };
    }),
  );
  for (const target of debianTargets) {
    const bin = path.join(out, targetSlug(target.name), 'bin', 'fwrunner');
    const info = await runUnderQemu(target, [bin, 'info']);
    t.is(info.code, 0, info.stderr);
    t.is((JSON.parse(info.stdout) as { byteOrder: string }).byteOrder, target.cpu.endian, `${target.name} runs as ${target.cpu.endian}-endian`);

    const dv = await runUnderQemu(target, [bin, 'eval', endianJs]);
    t.is(dv.code, 0, dv.stderr);
    const r = JSON.parse(dv.stdout) as Record<string, unknown>;
    t.deepEqual(r.bytes, [1, 2, 3, 4, 4, 3, 2, 1], `${target.name} DataView writes`);
    t.is(r.be, 0x01020304);
    t.is(r.le, 0x01020304);
    t.is(r.f64, -1.5);
    t.deepEqual(r.f64bytes, [0, 0, 0, 0, 0, 0, 0xf8, 0xbf]);
    t.is(r.native, target.cpu.endian === 'big' ? 0x01020304 : 0x04030201, `${target.name} typed array in CPU order`);
    t.is(r.i16, -2);

    const m = await runUnderQemu(target, [bin, 'eval', modelJs]);
    t.is(m.code, 0, m.stderr);
    t.is(m.stdout.trim(), expectedModel, `${target.name} model-like function`);
  }
});

test.serial('bytecode compiled on each target loads and runs there (big-endian MIPS included)', async (t) => {
  const dir = await tempDir(t);
  for (const target of debianTargets) {
    const bin = path.join(out, targetSlug(target.name), 'bin', 'fwrunner');
    const qbc = path.join(dir, `${targetSlug(target.name)}.qbc`);
    const c = await runUnderQemu(target, [bin, 'compile', projectPath('test', 'fixtures', 'endianness.js'), qbc]);
    t.is(c.code, 0, c.stderr);
    t.true((await stat(qbc)).size > 100);
    const fromSource = await runUnderQemu(target, [bin, 'eval', projectPath('test', 'fixtures', 'endianness.js')]);
    const fromBytecode = await runUnderQemu(target, [bin, 'run', qbc]);
    t.is(fromBytecode.code, 0, fromBytecode.stderr);
    t.is(fromBytecode.stdout, fromSource.stdout, `${target.name}: bytecode and source agree`);
  }
});

test.serial('without the byte-order patch QuickJS gets DataView wrong on big-endian MIPS (the patch is what fixes it)', async (t) => {
  const dir = await tempDir(t);
  // The same runner sources with an empty patches/ folder, built by the same toolchain image.
  const src = path.join(dir, 'runner');
  await cp(projectPath('runner'), src, { recursive: true });
  await rm(path.join(src, 'patches'), { recursive: true });
  await mkdir(path.join(src, 'patches'));
  const outDir = path.join(dir, 'out');
  await mkdir(outDir);
  if (process.getuid?.() === 0) await chownTree(outDir, BUILD_UID, BUILD_UID);
  const quickjs = path.join(cache, 'sources', (await readdir(path.join(cache, 'sources')))[0]!);
  const mips = catalog.resolve('qemu-mips');
  const log = await StepLog.open(path.join(dir, 'logs'), 'qemu-mips', 'runner-unpatched');
  await new StepContainer(docker, `unpatched-${randomBytes(4).toString('hex')}`, new AbortController().signal).run(
    {
      step: 'runner-unpatched',
      scope: 'qemu-mips',
      image: first.images.toolchain.ref,
      cmd: ['make', '-j2', '-C', '/src/runner', `CROSS=${mips.gcc.debian}-`, 'QUICKJS_SRC=/deps/quickjs', 'OUT=/out', 'WORK=/tmp/w', `TARGET_CFLAGS=${mips.cpu.cflags.join(' ')}`],
      mounts: [
        { host: src, container: '/src/runner', readOnly: true },
        { host: projectPath('bpf'), container: '/src/bpf', readOnly: true },
        { host: quickjs, container: '/deps/quickjs', readOnly: true },
        { host: outDir, container: '/out', readOnly: false },
      ],
    },
    log,
  );
  const r = await runUnderQemu(mips, [path.join(outDir, 'fwrunner'), 'eval', projectPath('test', 'fixtures', 'endianness.js')]);
  t.is(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout) as { bytes: number[]; native: number; i16: number };
  t.deepEqual(v.bytes, [4, 3, 2, 1, 1, 2, 3, 4], 'unpatched DataView stores bytes reversed on a big-endian CPU');
  t.is(v.i16, -257);
});

test.serial('the same model and features give the same predictions on every CPU, bit for bit', async (t) => {
  const feats = await readFile(projectPath('test', 'fixtures', 'features.jsonl'), 'utf8');
  const forest = projectPath('test', 'fixtures', 'model-forest.js');
  // the model a build ships by default: the trained forest
  const rule = projectPath('models', 'video-quality.js');
  const expectForest = await referencePredictions(forest, feats);
  const expectRule = await referencePredictions(rule, feats);
  const dir = await tempDir(t);
  const input = path.join(dir, 'features.jsonl');
  await writeFile(input, feats);
  for (const target of debianTargets) {
    const bin = path.join(out, targetSlug(target.name), 'bin', 'fwrunner');
    // From source, and from the bytecode fwbuild compiled for this target.
    const fromSource = await runUnderQemu(target, [bin, 'predict', '--model', forest], input);
    t.is(fromSource.code, 0, fromSource.stderr);
    t.is(fromSource.stdout, expectForest, `${target.name}: forest predictions equal Node.js's`);
    const fromBytecode = await runUnderQemu(target, [bin, 'predict', '--model', path.join(out, targetSlug(target.name), 'model', 'model.qbc')], input);
    t.is(fromBytecode.code, 0, fromBytecode.stderr);
    t.is(fromBytecode.stdout, expectRule, `${target.name}: shipped bytecode model loads and agrees`);
  }
});

/** What `fwbuild test` reported per target, for the figures in the log and the flow checks. */
const routerReports = new Map<string, RouterTestReport>();

// qemu-mips (big-endian, the ath79 twin) and qemu-armv7 (ARM32 JIT) first: CI must cover them.
for (const name of ['qemu-mips', 'qemu-armv7', 'qemu-mipsel', 'qemu-arm64']) {
  test.serial(`fwbuild test ${name}: boots, JIT-compiles the BPF programs and forwards real traffic; predictions equal Node.js's`, async (t) => {
    const config = await testConfig(shared, { outDir: out, cacheDir: cache, logDir: path.join(shared, 'logs') });
    // testRouter throws if a download does not arrive complete through the router
    const r = await testRouter(config, catalog, name, { say: (s) => t.log(s) });
    routerReports.set(name, r);
    t.deepEqual(r.build.ran, [], 'the image built by the first test is reused: every step from the cache');
    t.is(r.runner.programs, 2, 'the runner loads only the pair it attaches: the shipped config watches br-lan');
    t.is(r.runner.jited, r.runner.programs, 'every BPF program JIT-compiled in the guest');
    t.is(r.udp.received, r.udp.sent, 'the UDP stream crossed the router');
    t.true(r.bytes.expected.down >= 1_800_000);
    // every flow line the runner printed has a prediction, equal to Node.js's on the same features
    t.is(r.predictions.withPrediction, r.predictions.lines);
    t.is(r.predictions.matchingReference, r.predictions.withPrediction);
    t.true((r.runner.vmHwmKb ?? 0) > 0, 'VmHWM read inside the guest');
    t.deepEqual(await Netns.list(LAB_PREFIX), [], 'no lab namespace left');
    t.deepEqual(await qemuWithLabTaps(), [], 'no QEMU left');
    t.log(
      `${name}: runner ready ${r.bootSeconds.toFixed(1)} s after QEMU start, first prediction at ${r.firstPredictionSeconds?.toFixed(1) ?? '-'} s, ` +
        `VmHWM ${r.runner.vmHwmKb} kB, ${r.predictions.lines} flow lines, whole test ${r.seconds.toFixed(1)} s`,
    );
  });

  test.serial(`fwbuild test ${name}: every flow reported with exactly the payload sent each way (TCP over IPv4 and IPv6, UDP)`, (t) => {
    const r = routerReports.get(name);
    if (!r) return t.fail('the boot test above did not produce a report');
    t.is(r.flows.expected, 4);
    t.is(r.flows.seen, 4, JSON.stringify(r.flows.checks));
    for (const c of r.flows.checks) t.deepEqual(c.seen && { up: c.seen.up, down: c.seen.down }, c.expected, `${c.name}: ${JSON.stringify(c)}`);
    t.true(r.flows.checks.some((c) => c.seen && c.client.includes(':')), 'an IPv6 flow crossed the router');
    t.is(r.bytes.seen.down, r.bytes.expected.down);
    t.deepEqual(r.failures, [], `console log: ${r.consoleLog}`);
    t.true(r.ok);
  });
}

test.serial('fwbuild test: a boot that never gets ready fails with the console log, and Ctrl-C leaves nothing behind', async (t) => {
  // the CLI finds this file's images through a config file, as a user's project would
  const dir = await cliProject(t);
  // --boot-timeout 1: QEMU is up, the runner cannot be ready within a second
  const r = await runCli(['test', '--target', 'qemu-armv7', '--boot-timeout', '1', '--json', '--out-dir', out, '--cache-dir', cache], {
    cwd: dir,
  });
  t.is(r.code, 1, r.stderr);
  const j = JSON.parse(r.stdout) as { ok: boolean; error: { message: string } };
  t.false(j.ok);
  t.regex(j.error.message, /waiting for fwrunner's ready line on the serial console: nothing after 1 s; console log: \S+test-console\.log/);
  t.deepEqual(await Netns.list(LAB_PREFIX), [], 'no lab namespace left after the timeout');
  t.deepEqual(await qemuWithLabTaps(), [], 'no QEMU left after the timeout');

  const child = spawnCli(['test', '--target', 'qemu-armv7', '--out-dir', out, '--cache-dir', cache], {
    cwd: dir,
  });
  let stderr = '';
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve) =>
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/booting qemu-armv7/.test(stderr)) resolve();
    }),
  );
  await new Promise((r) => setTimeout(r, 2000)); // QEMU is running, the taps are in the namespaces
  t.true((await Netns.list(LAB_PREFIX)).length > 0, 'the lab was up when Ctrl-C came');
  child.kill('SIGINT');
  t.is(await exited, 130, stderr);
  t.deepEqual(await Netns.list(LAB_PREFIX), [], 'no lab namespace (and so no tap) left after Ctrl-C');
  t.deepEqual(await qemuWithLabTaps(), [], 'no QEMU left after Ctrl-C');
});

/** QEMU processes started by fwbuild test (their tap names start with fwl/fww). */
async function qemuWithLabTaps(): Promise<string[]> {
  const pids = await readdir('/proc');
  const found: string[] = [];
  for (const p of pids.filter((x) => /^\d+$/.test(x))) {
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith('qemu-system') && /ifname=fw[lw]/.test(cmd)) found.push(`${p} ${cmd.replace(/\0/g, ' ')}`);
  }
  return found;
}

test.serial('the runner enforces its time and memory limits', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'loop.js'), 'for (;;) {}');
  await writeFile(path.join(dir, 'hog.js'), 'const a = []; for (;;) a.push(new Array(1e5).fill(1));');
  const mips = catalog.resolve('qemu-mips');
  const bin = path.join(out, 'qemu-mips', 'bin', 'fwrunner');
  const loop = await runUnderQemu(mips, [bin, '--time-limit', '300', 'eval', path.join(dir, 'loop.js')]);
  t.is(loop.code, 1);
  t.regex(loop.stderr, /eval failed: InternalError: interrupted/);
  const hog = await runUnderQemu(mips, [bin, '--mem-limit', '4000000', 'eval', path.join(dir, 'hog.js')]);
  t.is(hog.code, 1);
  t.regex(hog.stderr, /out of memory/);
});

/** A folder whose config points the CLI at this file's images. */
async function cliProject(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'fwbuild.config.json'), JSON.stringify({ docker: { namespace } }));
  return dir;
}

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

  await symlink('../../..', path.join(dir, TOP, 'escape'));
  const evil = await pack(dir, path.join(dir, 'evil.tar.zst'), [TOP]);
  const evilTarball = { file: evil, name: 'evil.tar.zst', sha256: createHash('sha256').update(await readFile(evil)).digest('hex') };
  const e = await t.throwsAsync(ensureOpenWrtImage(docker, first.images.base, 'imagebuilder', evilTarball, work), { instanceOf: BuildError });
  t.regex(e.message, /refusing evil\.tar\.zst: extracting it could write outside its folder: .*escape \(symlink to \.\.\/\.\.\/\.\., outside the archive\)/);
  const images = (await docker.listImages()).flatMap((i) => i.RepoTags ?? []).filter((r) => r.startsWith(`${namespace}/openwrt-imagebuilder:`));
  t.deepEqual(images, [img.ref], 'no image from the refused tarball');
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
  t.is((JSON.parse(info.stdout) as { byteOrder: string }).byteOrder, 'big');
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

test.serial('a failing step exits with its log tail, removes its container and publishes nothing', async (t) => {
  const dir = await tempDir(t);
  const good = catalog.resolve('qemu-mipsel');
  const broken = new Catalog([{ ...good, cpu: { ...good.cpu, cflags: ['-mno-such-option'] } }]);
  const config = await testConfig(dir, { outDir: path.join(dir, 'dist'), cacheDir: cache, logDir: path.join(dir, 'logs') });
  const runId = `fail-${randomBytes(4).toString('hex')}`;
  const err = await t.throwsAsync(build(config, broken, { targets: ['qemu-mipsel'] }, { renderer: 'silent', runId }), { instanceOf: BuildError });
  t.regex(err.message, /step qemu-mipsel\/runner failed \(exit 2\); last lines:/);
  t.regex(err.message, /unrecognized command-line option [‘']-mno-such-option[’']/);
  t.regex(err.message, /full log: .*logs\/qemu-mipsel\/runner\.log/);
  t.is(err.exitCode, 1);
  t.deepEqual(await containersOf(runId), []);
  t.deepEqual(await readdir(path.join(dir, 'dist')).catch(() => []), [], 'nothing published, no staging left');
  await t.throwsAsync(stat(path.join(cache, 'work', runId)), { code: 'ENOENT' });
});

test.serial('Ctrl-C in the middle of a step stops it and leaves no container and no partial output', async (t) => {
  const dir = await tempDir(t);
  const runId = `sigint-${randomBytes(4).toString('hex')}`;
  const dist = path.join(dir, 'dist');
  // A fresh step cache: with the shared one every step would come from the cache, no container.
  const child = spawnCli(['--target', 'qemu-arm64', '--out-dir', dist, '--cache-dir', path.join(dir, 'cache')], {
    cwd: dir,
    env: { FWBUILD_RUN_ID: runId },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // Wait until the runner step's container is really running, then press Ctrl-C.
  const deadline = Date.now() + 300_000; // the first build of the usual images may still be under way
  let running: Awaited<ReturnType<typeof containersOf>> = [];
  while (Date.now() < deadline) {
    running = await containersOf(runId, ['fwbuild.step=runner']);
    if (running.some((c) => c.State === 'running')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.true(running.some((c) => c.State === 'running'), 'a runner step container was running');
  child.kill('SIGINT');
  const code = await exited;
  t.is(code, 130, stderr);
  t.regex(stderr, /SIGINT received, stopping containers/);
  t.regex(stderr, /interrupted by SIGINT/);
  t.deepEqual(await containersOf(runId), [], 'no container left behind');
  t.deepEqual(await readdir(dist).catch(() => []), [], 'no partial dist output');
  await t.throwsAsync(stat(path.join(dir, 'cache', 'work', runId)), { code: 'ENOENT' });
});
