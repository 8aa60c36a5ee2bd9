/**
 * The toolkit as an .apk for OpenWrt 25.12 and snapshots, checked by the real apk-tools 3.0.6
 * (built from ../shared/tools/, laid out as the SDK holds it: a test double of the SDK around
 * the real tool). The package is packed by `staging_dir/host/bin/apk mkpkg` with the script
 * fwbuild writes (apkPackScript), indexed with `apk mkndx --sign` and a key made here,
 * installed with `apk add --root` as the ImageBuilder does, and read back with apk itself.
 */
import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../../builder/config/load.js';
import { ensureBase } from '../../builder/docker/toolchain.js';
import { apkPackScript, apkVersion } from '../../builder/openwrt/apk-package.js';
import { packageInstall } from '../../builder/openwrt/package.js';
import { resolveEpoch } from '../../builder/util/epoch.js';
import { projectPath } from '../../builder/util/paths.js';
import { apkToolsSource, ensureApkToolsImage } from '../helpers/apk-tools.js';
import { docker, inContainer } from '../helpers/docker.js';
import { tempDir } from '../helpers/tmp.js';
import { BuildError } from '../../builder/errors.js';

const source = apkToolsSource('openwrt-apk');
const withApk = source ? test : test.skip;

test('apk versions are X.Y.Z-rN; anything apk would refuse is named before packing', (t) => {
  t.is(apkVersion('0.1.0'), '0.1.0-r1');
  for (const bad of ['0.4.0-1', '0.4.0+g1234abc', '1.2', 'v1.2.3']) t.throws(() => apkVersion(bad), { instanceOf: BuildError, message: /cannot be an apk version: apk takes X\.Y\.Z-rN/ });
});

withApk('the toolkit .apk: packed by the SDK\'s apk mkpkg with package-pack.mk\'s fields, the same bytes twice, indexed, installed with its service enabled', async (t) => {
  const dir = await tempDir(t);
  const config = await loadConfig({ cwd: dir, env: {}, overrides: { logDir: `${dir}/logs` } });
  const epoch = resolveEpoch(undefined).value;
  const base = await ensureBase(docker, { ...config, cacheDir: projectPath('.fwbuild-cache') }, { signal: new AbortController().signal, sourceDateEpoch: epoch });
  const image = await ensureApkToolsImage(docker, base, source!, config.docker.namespace);
  t.log(`${image.ref} (${image.built ? 'built' : 'reused'})`);

  // what the build steps leave for the package (their bytes do not matter here)
  const files = { 'sdk-runner/bin/fwrunner': 'ELF runner', 'bpf/bpf/fw_flows.bpf.o': 'BPF', 'model/model/model.qbc': 'bytecode' };
  for (const [f, body] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, 'in', f)), { recursive: true });
    await writeFile(path.join(dir, 'in', f), body);
  }
  const pack = (out: string) =>
    apkPackScript({
      arch: 'mips_24kc',
      version: '0.1.0',
      inRoot: '/in',
      install: packageInstall('quickjs'),
      extra: [{ from: '/src/overlays/openwrt/etc/init.d', to: 'etc/init.d' }],
      sdkRoot: '/opt/openwrt',
      outDir: out,
      sourceDateEpoch: epoch,
    });
  const binds = [`${dir}/in:/in:ro`, `${projectPath('overlays')}:/src/overlays:ro`, `${dir}/out:/out`];
  await mkdir(path.join(dir, 'out'));
  const made = (await inContainer(image.ref, `${pack('/out/a')} && ${pack('/out/b')}`, binds)).trim().split('\n').slice(-1)[0]!;
  t.is(made, '/out/b/fwbuild-toolkit-0.1.0-r1.apk');
  const a = await readFile(path.join(dir, 'out', 'a', 'fwbuild-toolkit-0.1.0-r1.apk'));
  t.true(a.equals(await readFile(path.join(dir, 'out', 'b', 'fwbuild-toolkit-0.1.0-r1.apk'))), 'same inputs, same bytes');

  const apk = '/opt/openwrt/staging_dir/host/bin/apk';
  const dump = await inContainer(image.ref, `${apk} adbdump /out/a/fwbuild-toolkit-0.1.0-r1.apk`, binds);
  for (const field of ['name: fwbuild-toolkit', 'version: 0.1.0-r1', 'arch: mips_24kc', 'license: MIT', 'origin: fwbuild', 'maintainer: fwbuild', '- kmod-sched-bpf', '- kmod-sched-core', 'eBPF traffic-analysis toolkit: TC flow extractor, fwrunner (QuickJS) and its model']) {
    t.true(dump.includes(field), `${field} in\n${dump.slice(0, 1500)}`);
  }
  t.regex(dump, /post-install/, 'the post-install script is in the package');

  // the index, signed with a key made here, and an install into a root tree as the
  // ImageBuilder does it: --no-scripts, then each post-install with IPKG_INSTROOT set
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  await mkdir(path.join(dir, 'keys'));
  await writeFile(path.join(dir, 'keys', 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(path.join(dir, 'keys', 'fwbuild-test.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
  // a double of base-files' functions.sh: default_postinst enables the init scripts the .list names
  const root = path.join(dir, 'root');
  await mkdir(path.join(root, 'lib'), { recursive: true });
  await copyFile(projectPath('test', 'helpers', 'openwrt-doubles', 'functions.sh'), path.join(root, 'lib', 'functions.sh'));
  await chmod(root, 0o755);
  const kmods = ['kmod-sched-core', 'kmod-sched-bpf']
    .map((k) => `mkdir -p /tmp/${k} && ${apk} mkpkg --info name:${k} --info version:6.12.1-r1 --info arch:mips_24kc --files /tmp/${k} --output /repo/${k}-6.12.1-r1.apk`)
    .join(' && ');
  const install = await inContainer(
    image.ref,
    [
      'set -e',
      'mkdir -p /repo && cp /out/a/*.apk /repo/',
      kmods,
      `${apk} mkndx --allow-untrusted --sign-key /keys/key.pem --output /repo/packages.adb /repo/*.apk`,
      'mkdir -p /root-tree/etc/apk/keys && cp /keys/fwbuild-test.pem /root-tree/etc/apk/keys/ && echo /repo/packages.adb > /root-tree/etc/apk/repositories',
      `${apk} --root /root-tree --initdb --arch mips_24kc --no-scripts --force-no-chroot --no-cache add fwbuild-toolkit`,
      // as OpenWrt's rootfs.mk does for apk: the stored scripts into lib/apk/exec, each post-install run
      'mkdir -p /root-tree/lib/apk/exec && tar -C /root-tree/lib/apk/exec -xzf /root-tree/lib/apk/db/scripts.tar.gz',
      'n=0; for s in /root-tree/lib/apk/exec/*.post-install; do IPKG_INSTROOT=/root-tree sh "$s"; n=$((n + 1)); done; echo "post-install scripts run: $n"',
      `${apk} --root /root-tree --force-no-chroot info -L fwbuild-toolkit`,
      `${apk} --root /root-tree --force-no-chroot info -R fwbuild-toolkit`,
    ].join('\n'),
    [...binds, `${dir}/keys:/keys:ro`, `${root}:/root-tree`],
  );
  t.log(install.split('\n').slice(-14).join('\n'));
  for (const f of ['usr/bin/fwrunner', 'usr/lib/fwrunner/fw_flows.bpf.o', 'usr/share/fwrunner/model.qbc', 'etc/init.d/fwrunner']) t.true(install.includes(f), `apk info -L lists ${f}`);
  t.regex(install, /kmod-sched-core/, 'its dependencies resolved');
  t.regex(install, /post-install scripts run: 1\n/, 'the toolkit\'s post-install, stored by apk, ran');
  const list = (await readFile(path.join(root, 'lib', 'apk', 'packages', 'fwbuild-toolkit.list'), 'utf8')).trim().split('\n');
  t.deepEqual(list, ['/etc/init.d/fwrunner', '/usr/bin/fwrunner', '/usr/lib/fwrunner/fw_flows.bpf.o', '/usr/share/fwrunner/model.qbc']);
  t.is((await readFile(path.join(root, 'usr', 'bin', 'fwrunner'), 'utf8')), 'ELF runner');
  t.is(await readlink(path.join(root, 'etc', 'rc.d', 'S95fwrunner')), '../init.d/fwrunner', 'default_postinst enabled the service from the .list');
});
