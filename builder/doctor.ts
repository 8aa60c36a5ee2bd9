import { access, constants } from 'node:fs/promises';
import { qemuSystemPackage } from './vrouter/qemu-command.js';
import { hostLauncher, probeQemu } from './vrouter/qemu-probe.js';
import { readRouterConf } from './vrouter/router-conf.js';
import { projectPath } from './util/paths.js';
import { mkdir, statfs } from 'node:fs/promises';
import semver from 'semver';
import type { Catalog } from './catalog/load.js';
import type { ResolvedConfig } from './config/config.js';
import { connectEngine } from './docker/engine.js';
import { which } from './util/which.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: Check[];
}

const MIN_FREE_GB = 10;

/** Looks at the host for everything a build and `fwbuild test` need; says how to fix each gap. */
export async function doctor(config: ResolvedConfig, catalog: Catalog): Promise<DoctorReport> {
  const checks: Check[] = [];
  const tool = async (name: string, cmd: string, fix: string): Promise<void> => {
    const p = await which(cmd);
    checks.push(p ? { name, ok: true, detail: p } : { name, ok: false, detail: `${cmd} not found on PATH`, fix });
  };

  const node = process.versions.node;
  checks.push(
    semver.gte(node, '20.19.0')
      ? { name: 'node', ok: true, detail: `v${node}` }
      : { name: 'node', ok: false, detail: `v${node} is older than 20.19`, fix: 'install Node.js 20.19 or newer' },
  );
  try {
    const docker = await connectEngine(config.docker);
    const v = await docker.version();
    checks.push({ name: 'docker', ok: true, detail: `engine ${v.Version}, API ${v.ApiVersion}` });
  } catch (e) {
    const err = e as Error & { hint?: string };
    checks.push({ name: 'docker', ok: false, detail: err.message, fix: err.hint ?? 'start the Docker engine' });
  }
  await tool('mmdebstrap', 'mmdebstrap', 'apt-get install -y mmdebstrap (bootstraps the base image from Debian packages)');
  await tool('npm', 'npm', 'install npm (fetches the pinned QuickJS source archive)');

  const debianTargets = catalog.targets.filter((t) => t.provider === 'debian' && t.qemu);
  const users = [...new Set(debianTargets.map((t) => t.qemu!.user).filter((u): u is string => !!u))];
  for (const u of users) {
    const found = (await which(`${u}-static`)) ?? (await which(u));
    checks.push(
      found
        ? { name: `qemu-user ${u}`, ok: true, detail: found }
        : { name: `qemu-user ${u}`, ok: false, detail: `${u}-static not found`, fix: 'apt-get install -y qemu-user-static' },
    );
  }
  const systems = [...new Set(debianTargets.map((t) => t.qemu!.system))];
  for (const s of systems) {
    await tool(`qemu-system ${s}`, s, `apt-get install -y ${qemuSystemPackage(s)}`);
  }
  // A binary on PATH is not enough: a NIC's ROM or a board's firmware may be missing. Start each
  // router's command line paused, as fwbuild test would, and let QEMU say what it lacks.
  const root = process.getuid?.() === 0;
  for (const t of debianTargets) {
    const name = `virtual router ${t.name}`;
    if (!root) {
      checks.push({ name, ok: true, detail: 'not started: QEMU makes tap devices, which needs root (as fwbuild test does)' });
      continue;
    }
    if (!(await which(t.qemu!.system))) continue; // the qemu-system check above names its package
    const r = await probeQemu(t, await readRouterConf(projectPath('overlays', t.provider)), hostLauncher);
    checks.push({ name, ok: r.ok, detail: r.detail, ...(r.fix ? { fix: r.fix } : {}) });
  }
  // fwbuild test: network namespaces and tap devices for the LAN client and WAN server
  await tool('ip (iproute2)', 'ip', 'apt-get install -y iproute2');
  const tun = await access('/dev/net/tun', constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
  checks.push(
    tun
      ? { name: 'tun device', ok: true, detail: '/dev/net/tun (fwbuild test makes tap devices)' }
      : { name: 'tun device', ok: false, detail: '/dev/net/tun is missing or not writable', fix: 'modprobe tun, and run fwbuild test as root' },
  );

  try {
    await mkdir(config.cacheDir, { recursive: true });
    const fs = await statfs(config.cacheDir);
    const freeGb = (fs.bavail * fs.bsize) / 1e9;
    checks.push(
      freeGb >= MIN_FREE_GB
        ? { name: 'disk', ok: true, detail: `${freeGb.toFixed(1)} GB free at ${config.cacheDir}` }
        : {
            name: 'disk',
            ok: false,
            detail: `${freeGb.toFixed(1)} GB free at ${config.cacheDir}, need ${MIN_FREE_GB} GB`,
            fix: 'free space or point --cache-dir / FWBUILD_CACHE_DIR at a bigger disk',
          },
    );
  } catch (e) {
    checks.push({ name: 'disk', ok: false, detail: `cannot use ${config.cacheDir}: ${(e as Error).message}`, fix: 'choose a writable --cache-dir' });
  }
  return { ok: checks.every((c) => c.ok), checks };
}
