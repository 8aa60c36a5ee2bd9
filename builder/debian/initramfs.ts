import { readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Target } from '../catalog/target.js';
import { BuildError } from '../errors.js';
import { INFERENCE, TOOLKIT_PATHS, type Inference } from '../config/inference.js';
import { cpioNewc, type CpioEntry } from '../util/cpio.js';
import { listFiles, sha256 } from '../util/hash.js';

/** This module and the cpio writer: what the image step's output depends on besides its inputs. */
export const initramfsCodeHash = sha256(
  Buffer.concat(
    [import.meta.url, new URL(`../util/cpio${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url).href].map((u) =>
      readFileSync(fileURLToPath(u)),
    ),
  ),
);

/** Where the toolkit lives in the router's filesystem; the shipped UCI config names the same paths. */
export const LAYOUT = {
  runner: 'usr/bin/fwrunner',
  /** the BPF object, by its name in INFERENCE */
  objectDir: TOOLKIT_PATHS.objectDir,
  model: TOOLKIT_PATHS.model,
  modules: 'lib/modules',
  uci: TOOLKIT_PATHS.uci,
} as const;

export interface InitramfsInputs {
  /** Outputs of the earlier steps, by step name (bpf, runner, model, kernel, userland). */
  steps: Record<string, string>;
  /** Overlay layers in order, later ones winning. */
  overlays: string[];
  mtime: number;
  /** which BPF object, and whether the QuickJS model (default quickjs) */
  inference?: Inference;
}

const DIRS = ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'tmp', 'run', 'var', 'root', 'etc', LAYOUT.modules];

/**
 * The virtual router's root filesystem as one newc archive, built from data only: busybox and
 * its applet links, the kernel modules with their load order, the toolkit, and the overlay.
 * Modes are normalised (0755 for anything executable, else 0644), owners are 0:0, one mtime.
 * It is left uncompressed: every kernel can unpack it, and there is no compressor whose output
 * could change with the host's zlib.
 */
export async function buildInitramfs(target: Target, io: InitramfsInputs): Promise<Buffer> {
  const entries = new Map<string, CpioEntry>();
  const put = (e: CpioEntry): void => {
    entries.set(e.path, e);
  };
  const dir = (p: string): void => {
    const parts = p.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join('/');
      if (!entries.has(sub)) put({ path: sub, type: 'dir' });
    }
  };
  const file = async (p: string, from: string, mode?: number): Promise<void> => {
    dir(path.posix.dirname(p));
    const st = await stat(from);
    put({ path: p, type: 'file', data: await readFile(from), mode: mode ?? (st.mode & 0o111 ? 0o755 : 0o644) });
  };
  const step = (name: string): string => {
    const d = io.steps[name];
    if (!d) throw new BuildError(`the initramfs of ${target.name} needs the output of step ${name}`);
    return d;
  };

  for (const d of DIRS) dir(d);
  put({ path: 'dev/console', type: 'char', major: 5, minor: 1 });
  put({ path: 'dev/null', type: 'char', major: 1, minor: 3, mode: 0o666 });

  // busybox, and a link per applet as the binary itself listed them
  await file('bin/busybox', path.join(step('userland'), 'userland', 'busybox'), 0o755);
  const links = (await readFile(path.join(step('userland'), 'userland', 'busybox.links'), 'utf8')).split('\n').filter(Boolean);
  for (const l of links) {
    const p = l.replace(/^\/+/, '');
    if (p === 'bin/busybox' || p === 'linuxrc') continue;
    dir(path.posix.dirname(p));
    put({ path: p, type: 'symlink', target: '/bin/busybox' });
  }
  // the kernel runs /init; busybox picks its init applet from the name
  put({ path: 'init', type: 'symlink', target: '/bin/busybox' });

  const modDir = path.join(step('kernel'), 'kernel', 'modules');
  for (const m of await readdir(modDir).catch(() => [] as string[])) await file(`${LAYOUT.modules}/${m}`, path.join(modDir, m), 0o644);
  if (!entries.has(`${LAYOUT.modules}/load-order`)) put({ path: `${LAYOUT.modules}/load-order`, type: 'file', data: Buffer.alloc(0) });

  await file(LAYOUT.runner, path.join(step('runner'), 'bin', 'fwrunner'), 0o755);
  const inference = io.inference ?? 'quickjs';
  const use = INFERENCE[inference];
  await file(`${LAYOUT.objectDir}/${use.object}`, path.join(step('bpf'), 'bpf', use.object), 0o644);
  if (use.quickjs) await file(LAYOUT.model, path.join(step('model'), 'model', 'model.qbc'), 0o644);

  for (const layer of io.overlays) {
    for (const rel of await listFiles(layer)) await file(rel.split(path.sep).join('/'), path.join(layer, rel));
  }
  for (const need of ['etc/inittab', 'etc/init.d/rcS']) {
    if (!entries.has(need)) throw new BuildError(`the overlay of ${target.name} has no ${need}: the router would not boot`);
  }
  return cpioNewc([...entries.values()], io.mtime);
}
