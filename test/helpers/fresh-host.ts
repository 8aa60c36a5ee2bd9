import type Docker from 'dockerode';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { imageId } from '../../builder/docker/engine.js';
import { buildImageFrom, demuxLogs } from './docker.js';
import type { ImageResult } from '../../builder/docker/base-image.js';
import type { Launched, Launcher } from '../../builder/debian/qemu-probe.js';
import { sha256 } from '../../builder/util/hash.js';
import { projectPath } from '../../builder/util/paths.js';

const SCRIPTS = ['host-setup', 'host-packages.txt'] as const;

/**
 * fwbuild's base image (a minimal Debian bootstrapped from packages) plus exactly what
 * `scripts/host-setup --packages-only` installs, as host-setup installs it. Tagged by the hash
 * of the base image and the two scripts, so it is built once per package list.
 */
export async function ensureHostPackagesImage(docker: Docker, base: ImageResult, namespace: string): Promise<ImageResult> {
  const texts = await Promise.all(SCRIPTS.map((f) => readFile(projectPath('scripts', f))));
  const key = sha256(`${base.id}\n${texts.map((t) => sha256(t)).join('\n')}`);
  const ref = `${namespace}/host-packages:${key.slice(0, 12)}`;
  const existing = await imageId(docker, ref);
  if (existing) return { ref, id: existing, built: false };
  const ctx = await mkdtemp(path.join(tmpdir(), 'fwbuild-hostpkgs-'));
  try {
    await mkdir(path.join(ctx, 'scripts'));
    for (const f of SCRIPTS) await copyFile(projectPath('scripts', f), path.join(ctx, 'scripts', f));
    await writeFile(
      path.join(ctx, 'Dockerfile'),
      [
        'ARG BASE',
        'FROM ${BASE}',
        'COPY scripts /opt/fwbuild/scripts',
        'RUN bash /opt/fwbuild/scripts/host-setup --packages-only && rm -rf /var/lib/apt/lists/*',
        '',
      ].join('\n'),
    );
    return { ref, id: await buildImageFrom(ref, ctx, { BASE: base.ref }), built: true };
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}

/**
 * Runs argv in a throwaway container of `image`: no network but its own loopback, the tun
 * device and NET_ADMIN so QEMU can make its taps, and `dir` mounted at the same path (the
 * probe's kernel and QMP socket live there). kill() removes the container whatever its state.
 */
export function containerLauncher(docker: Docker, image: string): Launcher {
  return async (argv, dir): Promise<Launched> => {
    const c = await docker.createContainer({
      Image: image,
      Cmd: argv,
      Labels: { 'fwbuild.scope': 'fresh-host-probe' },
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: 'none',
        Binds: [`${dir}:${dir}`],
        CapAdd: ['NET_ADMIN'],
        Devices: [{ PathOnHost: '/dev/net/tun', PathInContainer: '/dev/net/tun', CgroupPermissions: 'rwm' }],
      },
    });
    const output = async (): Promise<string> => demuxLogs((await c.logs({ stdout: true, stderr: true, follow: false })) as Buffer);
    let exited: Promise<{ code: number | null; output: string }>;
    try {
      await c.start();
      exited = c
        .wait()
        .then(async (r: { StatusCode: number }) => ({ code: r.StatusCode, output: await output() }))
        .catch((e: Error) => ({ code: null, output: e.message }));
    } catch (e) {
      exited = Promise.resolve({ code: null, output: `cannot start ${argv[0]}: ${(e as Error).message}` });
    }
    return {
      exited,
      kill: async () => {
        await c.remove({ force: true }).catch(() => undefined);
      },
    };
  };
}
