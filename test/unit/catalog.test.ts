import test from 'ava';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadCatalog } from '../../builder/catalog/load.js';
import { isVirtualRouter, type DebianTarget, type OpenWrtTarget } from '../../builder/catalog/target.js';
import { qemuCommand } from '../../builder/debian/qemu-command.js';
import type { RouterPorts } from '../../builder/debian/router-conf.js';
import { UsageError } from '../../builder/errors.js';
import { projectPath } from '../../builder/util/paths.js';
import { tempDir } from '../helpers/tmp.js';

test('the catalog holds the 11 targets of DESIGN §5 with their facts', async (t) => {
  const catalog = await loadCatalog();
  t.is(catalog.targets.length, 11);
  const ath79 = catalog.resolve('ath79') as OpenWrtTarget;
  t.is(ath79.name, 'ath79/generic');
  t.is(ath79.bpf, 'bpfeb');
  t.is(ath79.cpu.endian, 'big');
  t.is(ath79.openwrt?.arch, 'mips_24kc');
  t.is(ath79.gcc.openwrt, 'mips-openwrt-linux-musl');
  t.is(ath79.twin, 'qemu-mips');
  t.is(catalog.resolve('ramips').name, 'ramips/mt7621');
  t.is(catalog.resolve('ramips/mt7621').bpf, 'bpfel');
  t.is((catalog.resolve('mediatek') as OpenWrtTarget).openwrt.arch, 'aarch64_cortex-a53');
  const mips = catalog.resolve('qemu-mips') as DebianTarget;
  t.is(mips.provider, 'debian');
  t.is(mips.gcc.debian, 'mips-linux-gnu');
  t.is(mips.qemu?.machine, 'malta');
  t.is(mips.kernel?.source, 'build');
  t.deepEqual(
    catalog.targets.filter((t) => t.provider === 'debian').map((t) => t.name),
    ['qemu-arm64', 'qemu-armv7', 'qemu-mips', 'qemu-mipsel'],
  );
});

test('each port\'s NIC goes to the PCI slot its row names (MIPS: one interrupt per NIC), else where QEMU puts it', async (t) => {
  const catalog = await loadCatalog();
  const ports = { lan: { mac: '52:54:00:00:00:01' }, wan: { mac: '52:54:00:00:00:02' } } as unknown as RouterPorts;
  const devices = (name: string) => {
    const argv = qemuCommand((catalog.resolve(name) as DebianTarget).qemu, { kernel: 'k', initramfs: 'i' }, ports);
    return argv.filter((_, i) => argv[i - 1] === '-device');
  };
  t.deepEqual(devices('qemu-mips'), ['pcnet,romfile=,netdev=lan,mac=52:54:00:00:00:01,addr=0x12', 'pcnet,romfile=,netdev=wan,mac=52:54:00:00:00:02,addr=0x14']);
  t.deepEqual(devices('qemu-mipsel'), devices('qemu-mips'));
  t.false(devices('qemu-arm64').some((d) => d.includes('addr=')), devices('qemu-arm64').join(' '));
});

test('an unknown target names the closest and lists the accepted ones', async (t) => {
  const catalog = await loadCatalog();
  const err = t.throws(() => catalog.resolve('qemu-mps'), { instanceOf: UsageError });
  t.regex(err.message, /unknown target "qemu-mps" \(did you mean "qemu-mips"\?\); accepted: .*ath79\/generic/);
  t.is(err.exitCode, 2);
  t.regex(t.throws(() => catalog.resolve('ath97')).message, /did you mean "ath79\/generic"/);
});

async function brokenCatalog(t: Parameters<typeof tempDir>[0], file: string, edit: (o: Record<string, unknown>) => unknown) {
  const dir = path.join(await tempDir(t), 'targets');
  await cp(projectPath('targets'), dir, { recursive: true });
  const p = path.join(dir, file);
  const data = JSON.parse(await readFile(p, 'utf8')) as Record<string, unknown>;
  await writeFile(p, JSON.stringify(edit(data)));
  return dir;
}

test('a broken target file is rejected with the file and key named', async (t) => {
  const cases: [string, (o: Record<string, unknown>) => unknown, RegExp][] = [
    ['qemu-mips.json', (o) => ({ ...o, endian: 'big' }), /qemu-mips\.json: key "endian" unknown key; accepted keys: name, provider/],
    ['qemu-mips.json', (o) => ({ ...o, bpf: 'bpfle' }), /qemu-mips\.json: key "bpf" has "bpfle" \(did you mean "bpfel"\?\); accepted: bpfeb, bpfel/],
    ['qemu-mips.json', (o) => ({ ...o, bpf: 'bpfel' }), /key "bpf" is "bpfel" but cpu\.endian is big; expected "bpfeb"/],
    ['qemu-mips.json', (o) => ({ ...o, cpu: { family: 'mips', endian: 'big', cflags: '-O2' } }), /key "cpu\.cflags" has string "-O2", expected an array of strings/],
    ['ath79-generic.json', (o) => ({ ...o, twin: 'qemu-mipsel' }), /twin.*"qemu-mipsel" is mips little-endian but this target is mips big-endian/],
    ['ath79-generic.json', (o) => ({ ...o, twin: 'qemu-mipz' }), /key "twin" names unknown target "qemu-mipz"/],
    ['qemu-armv7.json', (o) => ({ ...o, name: 'qemu-arm' }), /name "qemu-arm" must live in qemu-arm\.json/],
    ['qemu-armv7.json', (o) => ({ ...o, provider: undefined }), /key "provider" is required/],
    ['qemu-mips.json', (o) => ({ ...o, qemu: { ...(o.qemu as object), nicAddr: { lan: '0x12', wan: '20' } } }), /key "qemu\.nicAddr\.wan" .*"20".*PCI slot/],
  ];
  for (const [file, edit, re] of cases) {
    const dir = await brokenCatalog(t, file, edit);
    const err = await t.throwsAsync(loadCatalog(dir), { instanceOf: UsageError });
    t.regex(err.message, re);
    t.notRegex(err.message, /\n/, 'one line');
  }
});

test('a target file that is not JSON is rejected by name', async (t) => {
  const dir = path.join(await tempDir(t), 'targets');
  await cp(projectPath('targets'), dir, { recursive: true });
  await writeFile(path.join(dir, 'qemu-arm64.json'), '{ "name": "qemu-arm64", ');
  const err = await t.throwsAsync(loadCatalog(dir), { instanceOf: UsageError });
  t.regex(err.message, /^target file targets\/qemu-arm64\.json: not valid JSON/);
});

test('one home for target facts: the toolchain image installs exactly what the catalog\'s virtual routers name', async (t) => {
  const routers = (await loadCatalog()).targets.filter(isVirtualRouter);
  const lines = async (f: string) =>
    (await readFile(projectPath('docker', 'toolchain', f), 'utf8')).split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  const packages = await lines('packages.txt');
  for (const r of routers) t.true(packages.includes(`gcc-${r.gcc.debian}`), `${r.name}: gcc-${r.gcc.debian} in docker/toolchain/packages.txt`);
  // packaged kernels and busybox by architecture; the ones built from source by their source package
  const kernels = routers.filter((r) => r.kernel.source === 'debian').map((r) => `${r.kernel.package}:${r.kernel.debianArch}`);
  t.deepEqual((await lines('kernels.txt')).sort(), [...new Set(kernels)].sort(), 'kernels.txt = the catalog\'s packaged kernels');
  const userland = routers.map((r) => (r.userland.busybox === 'debian' ? `busybox-static:${r.userland.debianArch}` : 'source:busybox'));
  t.deepEqual((await lines('userland.txt')).sort(), [...new Set(userland)].sort(), 'userland.txt = the catalog\'s busybox per router');
  const dockerfile = await readFile(projectPath('docker', 'toolchain', 'Dockerfile'), 'utf8');
  for (const r of routers.filter((x) => x.kernel.source === 'build')) {
    t.regex(dockerfile, new RegExp(`apt-get install[^\\n]* ${r.kernel.package.replace(/\./g, '\\.')}\\b`), `${r.name}: the Dockerfile installs ${r.kernel.package}`);
  }
});
