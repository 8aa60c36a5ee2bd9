import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadCatalog } from '../../../builder/catalog/load.js';
import type { OpenWrtTarget } from '../../../builder/catalog/target.js';
import { BuildError } from '../../../builder/errors.js';
import { packageFormat, packageInstall, writeIpk } from '../../../builder/openwrt/package.js';
import { SNAPSHOT } from '../../../builder/openwrt/releases.js';
import { tempDir } from '../../helpers/tmp.js';

const sh = promisify(execFile);

async function stepOutputs(root: string, runner = 'ELF-runner'): Promise<Record<string, string>> {
  const files: [string, string][] = [
    ['sdk-runner/bin/fwrunner', runner],
    ['bpf/bpf/fw_flows.bpf.o', 'bpf-object'],
    ['model/model/model.qbc', 'bytecode'],
  ];
  for (const [rel, body] of files) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), body);
  }
  return { 'sdk-runner': path.join(root, 'sdk-runner'), bpf: path.join(root, 'bpf'), model: path.join(root, 'model') };
}

test('the .ipk is laid out as ipkg-build does, and the same inputs give the same bytes under any umask', async (t) => {
  const target = (await loadCatalog()).resolve('ath79') as OpenWrtTarget;
  const a = await tempDir(t);
  const b = await tempDir(t);
  const input = { target, version: '0.1.0', sourceDateEpoch: 1700000000, inference: 'quickjs' as const };
  const old = process.umask(0o022);
  const first = await writeIpk({ ...input, steps: await stepOutputs(a) }, a);
  process.umask(0o077);
  const second = await writeIpk({ ...input, steps: await stepOutputs(b) }, b);
  process.umask(old);
  t.is(path.basename(first), 'fwbuild-toolkit_0.1.0-r1_mips_24kc.ipk');
  t.deepEqual(await readFile(first), await readFile(second));

  t.deepEqual((await sh('tar', ['-tzf', first])).stdout.trim().split('\n'), ['./debian-binary', './data.tar.gz', './control.tar.gz']);
  t.is((await sh('sh', ['-c', `tar -xzOf "${first}" ./debian-binary`])).stdout, '2.0\n');
  const data = (await sh('sh', ['-c', `tar -xzOf "${first}" ./data.tar.gz | tar -tvzf -`])).stdout;
  t.regex(data, /^-rwxr-xr-x 0\/0 +10 2023-11-14 22:13 \.\/usr\/bin\/fwrunner$/m);
  t.regex(data, /^-rw-r--r-- 0\/0 +10 2023-11-14 22:13 \.\/usr\/lib\/fwrunner\/fw_flows\.bpf\.o$/m);
  t.regex(data, /^-rw-r--r-- 0\/0 +8 2023-11-14 22:13 \.\/usr\/share\/fwrunner\/model\.qbc$/m);
  t.regex(data, /^drwxr-xr-x 0\/0 .* \.\/usr\/bin\/$/m, 'folders 0755 under umask 077 too');
  const control = (await sh('sh', ['-c', `tar -xzOf "${first}" ./control.tar.gz | tar -xzOf - ./control`])).stdout;
  t.regex(control, /^Package: fwbuild-toolkit\nVersion: 0\.1\.0-r1\nDepends: kmod-sched-core, kmod-sched-bpf\n/);
  t.regex(control, /\nArchitecture: mips_24kc\nInstalled-Size: 28\n/);
  t.regex(control, /\nSourceDateEpoch: 1700000000\n/);

  const c = await tempDir(t);
  const changed = await writeIpk({ ...input, steps: await stepOutputs(c, 'ELF-runner2') }, c);
  t.notDeepEqual(await readFile(changed), await readFile(first), 'a changed file changes the package');
});

test('a step that left nothing is named', async (t) => {
  const catalog = await loadCatalog();
  const dir = await tempDir(t);
  const steps = await stepOutputs(dir);
  steps.model = path.join(dir, 'nowhere');
  const e = await t.throwsAsync(writeIpk({ target: (catalog.resolve('ath79') as OpenWrtTarget), version: '1', sourceDateEpoch: 1, steps, inference: 'quickjs' }, dir), { instanceOf: BuildError });
  t.is(e.message, 'package fwbuild-toolkit: step model left nothing in model/');
});

test('with the in-kernel model alone the package carries its object and no model bytecode; with both, the bytecode too', async (t) => {
  const target = (await loadCatalog()).resolve('ath79') as OpenWrtTarget;
  const listing = async (inference: 'kernel' | 'both') => {
    const dir = await tempDir(t);
    const steps = await stepOutputs(dir);
    // what `make forest` leaves: the object with the forest only
    await rm(path.join(dir, 'bpf', 'bpf', 'fw_flows.bpf.o'));
    await writeFile(path.join(dir, 'bpf', 'bpf', 'fw_flows_forest.bpf.o'), 'BPF+forest');
    // kernel: the model step did not run; its folder is not among the steps
    if (inference === 'kernel') delete steps.model;
    const ipk = await writeIpk({ target, version: '0.1.0', sourceDateEpoch: 1700000000, steps, inference }, dir);
    return (await sh('sh', ['-c', `tar -xzOf "${ipk}" ./data.tar.gz | tar -tzf -`])).stdout.trim().split('\n').filter((l) => !l.endsWith('/'));
  };
  t.deepEqual(await listing('kernel'), ['./usr/bin/fwrunner', './usr/lib/fwrunner/fw_flows_forest.bpf.o']);
  t.deepEqual(await listing('both'), ['./usr/bin/fwrunner', './usr/lib/fwrunner/fw_flows_forest.bpf.o', './usr/share/fwrunner/model.qbc']);
  t.deepEqual(packageInstall('kernel').map((i) => i.from), ['sdk-runner/bin', 'bpf/bpf']);
});

test('package format: .ipk up to 24.10, .apk from 25.12 and in snapshots', (t) => {
  const rel = (version: string) => ({ kind: 'release' as const, version, path: `releases/${version}` });
  t.is(packageFormat(rel('23.05.6')), 'ipk');
  t.is(packageFormat(rel('24.10.8')), 'ipk');
  t.is(packageFormat(rel('25.12.5')), 'apk');
  t.is(packageFormat(rel('25.12.0-rc1')), 'apk');
  t.is(packageFormat(SNAPSHOT), 'apk');
});
