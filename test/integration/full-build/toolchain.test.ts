/**
 * Real Docker, real Debian cross compilers, real qemu-user: the toolchain image (built from
 * Debian packages under this run's image namespace, or fwbuild's usual one with
 * FWBUILD_TEST_WARM=1), the toolkit for every debian target, and its binaries run on emulated CPUs.
 * The shared build and its lock: test/helpers/shared-build.ts.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { Catalog } from '../../../builder/catalog/load.js';
import { type Target } from '../../../builder/catalog/target.js';
import { BUILD_UID, StepContainer } from '../../../builder/docker/step-container.js';
import { chownTree } from '../../../builder/util/publish.js';
import { StepLog } from '../../../builder/util/steplog.js';
import { build, type BuildReport } from '../../../builder/pipeline/build.js';
import { listFiles } from '../../../builder/util/hash.js';
import { arm32JitBlockers, EM, machineForFamily, readElfHeader } from '../../../builder/util/elf.js';
import { projectPath, targetSlug } from '../../../builder/util/paths.js';
import { docker } from '../../helpers/docker.js';
import { referencePredictions } from '../../helpers/model.js';
import { runUnderQemu } from '../../../devkit/qemu-user.js';
import { tempDir } from '../../helpers/tmp.js';
import { useSharedBuild } from '../../helpers/shared-build.js';

let first: BuildReport;
let catalog: Catalog;
let debianTargets: Target[];
let out: string;
let cache: string;
let namespace: string;
let cold: boolean;
useSharedBuild(test, (b) => ({ first, catalog, debianTargets, out, cache, namespace, cold } = b));

test.serial('the toolchain image builds from Debian packages and the toolkit for every debian target', async (t) => {
  t.log(cold ? `cold: images under ${namespace}/` : 'warm: fwbuild/ images reused (FWBUILD_TEST_WARM=1)');
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
