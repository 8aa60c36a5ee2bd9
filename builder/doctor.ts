import { access, constants } from 'node:fs/promises';
import { toolCheck, type Check } from './doctor-check.js';
import { byProvider } from './provider.js';
import { mkdir, statfs } from 'node:fs/promises';
import semver from 'semver';
import type { Catalog } from './catalog/load.js';
import type { ResolvedConfig } from './config/config.js';
import { connectEngine } from './docker/engine.js';
import { which } from './util/which.js';

export type { Check } from './doctor-check.js';

export interface DoctorReport {
  ok: boolean;
  checks: Check[];
}

const MIN_FREE_GB = 10;

/** Looks at the host for everything a build and `fwbuild test` need; says how to fix each gap. */
export async function doctor(config: ResolvedConfig, catalog: Catalog): Promise<DoctorReport> {
  const checks: Check[] = [];
  const tool = async (name: string, cmd: string, fix: string): Promise<void> => {
    checks.push(await toolCheck(name, cmd, fix));
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

  // each provider's own needs: the virtual routers' QEMU, for one
  for (const { provider, targets } of byProvider(catalog.targets)) {
    if (provider.doctor && targets.length > 0) checks.push(...(await provider.doctor(targets)));
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
