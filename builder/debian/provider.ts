import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DebianTarget } from '../catalog/target.js';
import { toolCheck, type Check } from '../doctor-check.js';
import { UsageError } from '../errors.js';
import type { Provider } from '../provider.js';
import { projectPath } from '../util/paths.js';
import { which } from '../util/which.js';
import { qemuCommand, qemuSystemPackage, TAP } from './qemu-command.js';
import { hostLauncher, probeQemu } from './qemu-probe.js';
import { readRouterConf } from './router-conf.js';
import { debianSteps } from './steps.js';

/**
 * Virtual routers built whole from Debian's packages (kernel, busybox, cross gcc) and booted in
 * QEMU: the twins of the OpenWrt targets, and what `fwbuild test` runs.
 */
export const debianProvider: Provider<DebianTarget> = {
  name: 'debian',

  check(t) {
    const problems: string[] = [];
    if (t.profiles.length === 0) problems.push('key "profiles" must list at least one board for the debian provider');
    if (t.userland.busybox === 'debian' && !t.userland.debianArch) problems.push('a Debian busybox needs "userland.debianArch"');
    const k = t.kernel;
    if (k.source === 'build') {
      if (!k.config || !k.arch || !k.image) problems.push('a kernel built from source needs "kernel.config", "kernel.arch" and "kernel.image"');
      else if (!existsSync(projectPath('targets', 'kernels', `${k.config}.config`))) {
        problems.push(`key "kernel.config" names targets/kernels/${k.config}.config, which does not exist`);
      }
    }
    if (k.source === 'debian' && !k.debianArch) problems.push('a Debian kernel needs "kernel.debianArch"');
    return problems;
  },

  plan(target, requested, env) {
    const profile = requested ?? target.profiles[0]!;
    if (!target.profiles.includes(profile)) {
      throw new UsageError(`unknown profile "${profile}" for target ${target.name}; accepted: ${target.profiles.join(', ')}`);
    }
    return {
      target,
      profile,
      fetch: [],
      images: [],
      steps: () => debianSteps(target, env.fwVersion, env.config.inference),
      kernelConfig: target.kernel.config,
      image: () => undefined,
      lock: (lock) => lock,
      // the exact QEMU command line of the router, paths relative to the published folder
      async manifest(staged, artifacts) {
        const kernel = artifacts.find((a) => a.kind === 'kernel' && /^kernel\/vmlinu/.test(a.path));
        const initramfs = artifacts.find((a) => a.kind === 'initramfs');
        if (!kernel || !initramfs) return {};
        const ports = await readRouterConf(path.join(staged, 'overlay'));
        return {
          qemu: {
            argv: qemuCommand(target.qemu, { kernel: kernel.path, initramfs: initramfs.path }, ports),
            taps: `${TAP.lan} and ${TAP.wan} are tap devices for the LAN and WAN ports (fwbuild test creates them); run from this folder`,
          },
        };
      },
    };
  },

  async doctor(targets) {
    const checks: Check[] = [];
    for (const u of [...new Set(targets.map((t) => t.qemu.user))]) {
      const found = (await which(`${u}-static`)) ?? (await which(u));
      checks.push(
        found
          ? { name: `qemu-user ${u}`, ok: true, detail: found }
          : { name: `qemu-user ${u}`, ok: false, detail: `${u}-static not found`, fix: 'apt-get install -y qemu-user-static' },
      );
    }
    for (const s of [...new Set(targets.map((t) => t.qemu.system))]) {
      checks.push(await toolCheck(`qemu-system ${s}`, s, `apt-get install -y ${qemuSystemPackage(s)}`));
    }
    // A binary on PATH is not enough: a NIC's ROM or a board's firmware may be missing. Start each
    // router's command line paused, as fwbuild test would, and let QEMU say what it lacks.
    const root = process.getuid?.() === 0;
    for (const t of targets) {
      const name = `virtual router ${t.name}`;
      if (!root) {
        checks.push({ name, ok: true, detail: 'not started: QEMU makes tap devices, which needs root (as fwbuild test does)' });
        continue;
      }
      if (!(await which(t.qemu.system))) continue; // the qemu-system check above names its package
      const r = await probeQemu(t, await readRouterConf(projectPath('overlays', t.provider)), hostLauncher);
      checks.push({ name, ok: r.ok, detail: r.detail, ...(r.fix ? { fix: r.fix } : {}) });
    }
    return checks;
  },
};

