import test from 'ava';
import { tempDir } from '../helpers/tmp.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { nextStep } from '../../builder/cli.js';
import { loadCatalog } from '../../builder/catalog/load.js';

test('targets --json prints the whole catalog as one JSON document', async (t) => {
  const r = await runCli(['targets', '--json']);
  t.is(r.code, 0);
  const doc = JSON.parse(r.stdout) as { ok: boolean; targets: { name: string; bpf: string }[] };
  t.true(doc.ok);
  t.is(doc.targets.length, 11);
  t.is(doc.targets.find((x) => x.name === 'ath79/generic')?.bpf, 'bpfeb');
});

test('targets prints a table with the twin of each OpenWrt target', async (t) => {
  const r = await runCli(['targets']);
  t.is(r.code, 0);
  t.regex(r.stdout, /^ath79\/generic\s+openwrt\s+mips big\s+bpfeb\s+mips_24kc\s+mips-linux-gnu\s+twin: qemu-mips$/m);
});

test('--help works on every command and exits 0', async (t) => {
  for (const args of [['--help'], ['help'], ['build', '--help'], ['targets', '--help'], ['doctor', '--help'], ['help', 'doctor']]) {
    const r = await runCli(args);
    t.is(r.code, 0, args.join(' '));
    t.regex(r.stdout, new RegExp(`usage: fwbuild ${args[0] === 'help' ? (args[1] ?? 'COMMAND') : args[0] === '--help' ? 'COMMAND' : args[0]}`), args.join(' '));
  }
  const j = await runCli(['build', '--help', '--json']);
  t.regex((JSON.parse(j.stdout) as { help: string }).help, /--target NAME/);
});

test('bad usage exits 2 with a suggestion', async (t) => {
  const cmd = await runCli(['tragets']);
  t.is(cmd.code, 2);
  t.regex(cmd.stderr, /unknown command "tragets" \(did you mean "targets"\?\); accepted: build, verify, test, fetch, targets, doctor, help/);
  const opt = await runCli(['--target', 'qemu-mips', '--proflie', 'x']);
  t.is(opt.code, 2);
  t.regex(opt.stderr, /Unknown option '--proflie' \(did you mean "--profile"\?\)/);
  const none = await runCli(['build']);
  t.is(none.code, 2);
  t.regex(none.stderr, /no target given/);
});

test('an OpenWrt target needs --profile, and a mirror unless --offline; an offline build names the file it lacks and where to put it', async (t) => {
  const r = await runCli(['--target', 'ath79', '--json']);
  t.is(r.code, 2);
  t.regex(JSON.parse(r.stdout).error.message, /an OpenWrt target needs --profile \(the device\): fwbuild --target ath79\/generic --profile NAME/);
  const cache = await tempDir(t);
  // OpenWrt's server is the default (never contacted from a test): an empty list is refused
  await writeFile(path.join(cache, 'fwbuild.config.json'), JSON.stringify({ openwrt: { mirrors: [] } }));
  const noMirror = await runCli(['--target', 'ath79', '--profile', 'tplink_archer-c7-v2', '--cache-dir', cache, '--json'], { cwd: cache });
  t.is(noMirror.code, 2, noMirror.stderr);
  t.regex(JSON.parse(noMirror.stdout).error.message, /no OpenWrt mirror configured/);
  const offline = await runCli(['--target', 'ath79', '--profile', 'tplink_archer-c7-v2', '--release', '24.10.8', '--offline', '--cache-dir', cache]);
  t.is(offline.code, 2, offline.stderr);
  t.regex(offline.stderr, /--offline: \.versions\.json is not in the download folder\n.*hint: run once without --offline to fill .*\/openwrt\/meta/);
  t.false(offline.stderr.includes('at Object'), 'one message, no stack trace');
});

test('test refuses an OpenWrt device target (naming its QEMU twin), two targets and a bad --boot-timeout, before any work', async (t) => {
  const dev = await runCli(['test', '--target', 'ath79', '--json']);
  t.is(dev.code, 2);
  t.regex(JSON.parse(dev.stdout).error.message, /fwbuild test boots virtual routers; ath79\/generic is an OpenWrt device target \(its QEMU twin is qemu-mips\)/);
  const two = await runCli(['test', '--target', 'qemu-mips,qemu-armv7']);
  t.is(two.code, 2);
  t.regex(two.stderr, /test takes one target/);
  const bad = await runCli(['test', '--target', 'qemu-mips', '--boot-timeout', 'soon']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--boot-timeout "soon" is not a number of seconds above 0/);
  const unknown = await runCli(['test', '--target', 'qemu-mipz']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /did you mean "qemu-mips"/);
});

test('a source the build user cannot read (a file made under umask 077) is named before any work, with the fix', async (t) => {
  const { chmod, mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-umask-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'model.js'), 'function predict(f) { return 1; }\n');
  await chmod(path.join(dir, 'model.js'), 0o600);
  await writeFile(path.join(dir, 'fwbuild.config.json'), JSON.stringify({ model: 'model.js' }));
  const r = await runCli(['--target', 'qemu-armv7', '--json'], { cwd: dir });
  t.is(r.code, 2);
  const e = JSON.parse(r.stdout).error as { message: string; hint: string };
  t.regex(e.message, /the build user \(uid 10001\) cannot read 1 source path\(s\): .*model\.js/);
  t.regex(e.hint, /chmod -R a\+rX /);
});

test('verify without a published build says what to do and exits 2', async (t) => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-verify-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await runCli(['verify', '--target', 'qemu-armv7', '--json'], { cwd: dir });
  t.is(r.code, 2);
  const doc = JSON.parse(r.stdout) as { error: { message: string; hint: string } };
  t.regex(doc.error.message, /no build to verify in .*dist\/qemu-armv7/);
  t.is(doc.error.hint, 'build it first: fwbuild --target qemu-armv7');
  const two = await runCli(['verify', '--target', 'qemu-armv7,qemu-mips'], { cwd: dir });
  t.is(two.code, 2);
  t.regex(two.stderr, /verify takes one target/);
});

test('verify in a project that has a published build but no cache folder yet goes on to the rebuild', async (t) => {
  const { mkdir, mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-verify-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // a dist as a colleague would hand it over: manifest and sums, nothing else of the project's
  await mkdir(path.join(dir, 'dist', 'qemu-armv7'), { recursive: true });
  await writeFile(path.join(dir, 'dist', 'qemu-armv7', 'manifest.json'), JSON.stringify({ sourceDateEpoch: 1700000000, inputs: {} }));
  await writeFile(path.join(dir, 'dist', 'qemu-armv7', 'sha256sums'), '');
  // no Docker at that socket: the rebuild stops there, after the cache folder was made
  const r = await runCli(['verify', '--target', 'qemu-armv7', '--json'], { cwd: dir, env: { DOCKER_HOST: 'unix:///nonexistent.sock' } });
  t.is(r.code, 1, r.stderr);
  const doc = JSON.parse(r.stdout) as { error: { message: string } };
  t.notRegex(doc.error.message, /mkdtemp/);
  t.regex(doc.error.message, /^Docker engine not reachable at unix:\/\/\/nonexistent\.sock/);
});

test('doctor --json reports each check with a fix for each gap', async (t) => {
  const r = await runCli(['doctor', '--json'], { env: { PATH: '/nonexistent', DOCKER_HOST: 'unix:///nonexistent.sock' } });
  t.is(r.code, 1);
  const doc = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; ok: boolean; fix?: string }[] };
  t.false(doc.ok);
  const docker = doc.checks.find((c) => c.name === 'docker');
  t.false(docker?.ok);
  t.regex(docker?.fix ?? '', /docker\.io/);
  const mm = doc.checks.find((c) => c.name === 'mmdebstrap');
  t.false(mm?.ok);
  t.regex(mm?.fix ?? '', /apt-get install -y mmdebstrap/);
  t.true(doc.checks.some((c) => c.name === 'qemu-user qemu-mips' && !c.ok && /qemu-user-static/.test(c.fix ?? '')));
});

test('doctor starts every virtual router\'s QEMU paused and reports what QEMU accepted', async (t) => {
  if (process.getuid?.() !== 0) return t.pass('needs root, as fwbuild test does');
  const r = await runCli(['doctor', '--json']);
  const doc = JSON.parse(r.stdout) as { checks: { name: string; ok: boolean; detail: string }[] };
  const routers = doc.checks.filter((c) => c.name.startsWith('virtual router '));
  t.deepEqual(routers.map((c) => c.name).sort(), ['qemu-arm64', 'qemu-armv7', 'qemu-mips', 'qemu-mipsel'].map((n) => `virtual router ${n}`));
  for (const c of routers) t.true(c.ok, `${c.name}: ${c.detail}`);
  t.regex(routers.find((c) => c.name.endsWith('qemu-mips'))!.detail, /qemu-system-mips -M malta accepted every device/);
});

test('after a build the CLI names the command that boots what was built', async (t) => {
  const catalog = await loadCatalog();
  t.is(
    nextStep([catalog.resolve('qemu-mips')]),
    'next: fwbuild test --target qemu-mips boots it in QEMU and sends traffic through (as root)',
  );
  t.is(
    nextStep([catalog.resolve('ath79')]),
    'next: fwbuild test --target qemu-mips boots it in QEMU and sends traffic through (as root); qemu-mips is the QEMU twin of ath79/generic',
  );
  t.is(nextStep([catalog.resolve('malta/be')]), undefined, 'an OpenWrt QEMU target without a twin: nothing to suggest');
});
