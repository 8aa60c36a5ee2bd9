/**
 * A fresh Debian host, as host-setup leaves it: fwbuild's own base image plus exactly the
 * packages of scripts/host-packages.txt, installed by `host-setup --packages-only` with
 * --no-install-recommends. Every virtual router's QEMU command line (built by the same code as
 * a build's manifest) must start there, paused before the guest runs: a ROM, firmware file or
 * binary that only a Recommends or an earlier install brought fails here with its package.
 */
import test from 'ava';
import { loadCatalog } from '../../builder/catalog/load.js';
import { isVirtualRouter } from '../../builder/catalog/target.js';
import { loadConfig } from '../../builder/config/load.js';
import { ensureBase } from '../../builder/docker/toolchain.js';
import { probeQemu } from '../../builder/debian/qemu-probe.js';
import { readRouterConf } from '../../builder/debian/router-conf.js';
import { resolveEpoch } from '../../builder/util/epoch.js';
import { projectPath } from '../../builder/util/paths.js';
import { docker } from '../helpers/docker.js';
import { containerLauncher, ensureHostPackagesImage } from '../helpers/fresh-host.js';
import { tempDir } from '../helpers/tmp.js';

test('every virtual router starts its QEMU on a host with only host-setup\'s packages', async (t) => {
  const catalog = await loadCatalog();
  const dir = await tempDir(t);
  const config = await loadConfig({ cwd: dir, env: {}, overrides: { logDir: `${dir}/logs` } });
  const base = await ensureBase(docker, { ...config, cacheDir: projectPath('.fwbuild-cache') }, {
    signal: new AbortController().signal,
    sourceDateEpoch: resolveEpoch(undefined).value,
  });
  const image = await ensureHostPackagesImage(docker, base, config.docker.namespace);
  t.log(`${image.ref} (${image.built ? 'built' : 'reused'})`);
  const launch = containerLauncher(docker, image.ref);
  const routers = catalog.targets.filter(isVirtualRouter);
  t.true(routers.length >= 4, 'the catalog has its virtual routers');
  for (const target of routers) {
    const ports = await readRouterConf(projectPath('overlays', target.provider));
    const r = await probeQemu(target, ports, launch);
    t.true(r.ok, `${target.name}: ${r.detail}${r.fix ? `\n  fix: add to scripts/host-packages.txt what \`${r.fix}\` installs` : ''}`);
  }

  // The check can fail: a PCI NIC that loads its boot ROM needs ipxe-qemu, a Recommends that
  // host-setup does not install, and the probe names it.
  const mips = routers.find((x) => x.qemu.nic.includes('romfile='));
  t.truthy(mips, 'a router whose NIC has its boot ROM turned off');
  const withRom = { ...mips!, qemu: { ...mips!.qemu, nic: mips!.qemu.nic.replace(/,romfile=[^,]*/, '') } };
  const refused = await probeQemu(withRom, await readRouterConf(projectPath('overlays', mips!.provider)), launch);
  t.false(refused.ok);
  t.regex(refused.detail, /failed to find romfile "efi-pcnet\.rom"/);
  t.is(refused.fix, 'apt-get install -y ipxe-qemu');

  // and a missing binary names its package
  const arm = routers.find((x) => x.qemu.system === 'qemu-system-arm')!;
  const noBinary = { ...arm, qemu: { ...arm.qemu, system: 'qemu-system-armnosuch' } };
  const absent = await probeQemu(noBinary, await readRouterConf(projectPath('overlays', arm.provider)), launch);
  t.false(absent.ok);
  t.regex(absent.detail, /qemu-system-armnosuch/);
  t.is(absent.fix, 'apt-get install -y qemu-system-arm');

  // the user-mode emulators the tests and benches run target binaries with
  const users = [...new Set(routers.map((x) => x.qemu.user).filter((u): u is string => !!u))];
  const which = await launch(['sh', '-c', users.map((u) => `command -v ${u}-static || echo "missing ${u}-static"`).join('; ')], dir);
  const { output } = await which.exited;
  await which.kill();
  t.notRegex(output, /missing/, output);
  t.is(output.trim().split('\n').length, users.length);
});
