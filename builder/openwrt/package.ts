import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import type { OpenWrtTarget } from '../catalog/target.js';
import { BuildError } from '../errors.js';
import { sha256 } from '../util/hash.js';
import type { ResolvedRelease } from './releases.js';
import { INFERENCE, TOOLKIT_PATHS, type Inference } from '../config/inference.js';

/**
 * The toolkit as one OpenWrt package, as data: where each step's output lands on the router
 * (the paths /etc/config/fwrunner names) and what it needs from the release's feeds. The runner
 * is static, so no libc or libbpf dependency; clsact comes from kmod-sched-core, cls_bpf from
 * kmod-sched-bpf.
 */
export const TOOLKIT_PACKAGE = {
  name: 'fwbuild-toolkit',
  release: 1,
  section: 'net',
  license: 'MIT',
  /** apk's origin, url and maintainer fields (package-pack.mk's SOURCE, URL, MAINTAINER) */
  origin: 'fwbuild',
  url: '',
  maintainer: 'fwbuild',
  depends: ['kmod-sched-core', 'kmod-sched-bpf'],
  description: 'eBPF traffic-analysis toolkit: TC flow extractor, fwrunner (QuickJS) and its model',
  /** step output folder -> folder on the router, and the mode of the files */
  install: [
    { from: 'sdk-runner/bin', to: 'usr/bin', mode: 0o755, quickjsOnly: false },
    // the bpf step builds only the object the config's inference names
    { from: 'bpf/bpf', to: TOOLKIT_PATHS.objectDir, mode: 0o644, quickjsOnly: false },
    { from: 'model/model', to: TOOLKIT_PATHS.modelDir, mode: 0o644, quickjsOnly: true },
  ],
} as const;

export type PackageInstall = (typeof TOOLKIT_PACKAGE.install)[number];

/** What the package carries for a choice of inference: no model bytecode without the QuickJS model. */
export function packageInstall(inference: Inference): PackageInstall[] {
  return TOOLKIT_PACKAGE.install.filter((i) => INFERENCE[inference].quickjs || !i.quickjsOnly);
}

export type PackageFormat = 'ipk' | 'apk';

/** opkg's .ipk up to 24.10; apk from 25.12 and in snapshots. */
export function packageFormat(release: ResolvedRelease): PackageFormat {
  return release.kind === 'snapshot' || Number(release.version.split('.')[0]) >= 25 ? 'apk' : 'ipk';
}

export interface PackageInput {
  target: OpenWrtTarget;
  version: string;
  /** step name -> its output folder */
  steps: Record<string, string>;
  sourceDateEpoch: number;
  inference: Inference;
}

/** This file's code is what packs the files: part of the package step's key, as a command line is. */
export const packageCodeHash = sha256(readFileSync(fileURLToPath(import.meta.url)));

/**
 * Writes the toolkit's .ipk into `outDir` the way OpenWrt's ipkg-build lays it out: a gzipped
 * tar of ./debian-binary, ./data.tar.gz and ./control.tar.gz. Every tar has sorted entries, one
 * mtime (SOURCE_DATE_EPOCH), uid and gid 0 and fixed modes; gzip carries no name or time. The
 * same inputs give the same bytes.
 */
export async function writeIpk(input: PackageInput, outDir: string): Promise<string> {
  const arch = input.target.openwrt.arch;
  const work = await mkdtemp(path.join(outDir, '.ipk-'));
  try {
    const data = path.join(work, 'data');
    let installed = 0;
    for (const { from, to, mode } of packageInstall(input.inference)) {
      const [step, sub] = from.split('/') as [string, string];
      const src = path.join(input.steps[step] ?? '', sub);
      const files = (await readdir(src).catch(() => [])).sort();
      if (files.length === 0) throw new BuildError(`package ${TOOLKIT_PACKAGE.name}: step ${step} left nothing in ${sub}/`);
      await mkdir(path.join(data, to), { recursive: true });
      for (const f of files) {
        const dest = path.join(data, to, f);
        await copyFile(path.join(src, f), dest);
        await chmod(dest, mode);
        installed += (await stat(dest)).size;
      }
    }
    const version = `${input.version}-r${TOOLKIT_PACKAGE.release}`;
    const control = [
      `Package: ${TOOLKIT_PACKAGE.name}`,
      `Version: ${version}`,
      `Depends: ${TOOLKIT_PACKAGE.depends.join(', ')}`,
      `Source: fwbuild`,
      `SourceName: ${TOOLKIT_PACKAGE.name}`,
      `License: ${TOOLKIT_PACKAGE.license}`,
      `Section: ${TOOLKIT_PACKAGE.section}`,
      `SourceDateEpoch: ${input.sourceDateEpoch}`,
      `Architecture: ${arch}`,
      `Installed-Size: ${installed}`,
      `Description: ${TOOLKIT_PACKAGE.description}`,
      '',
    ].join('\n');
    const ctl = path.join(work, 'control');
    await mkdir(ctl);
    await writeFile(path.join(ctl, 'control'), control);
    const outer = path.join(work, 'outer');
    await mkdir(outer);
    await writeFile(path.join(outer, 'debian-binary'), '2.0\n');
    await writeFile(path.join(outer, 'data.tar.gz'), await tarGz(data, input.sourceDateEpoch));
    await writeFile(path.join(outer, 'control.tar.gz'), await tarGz(ctl, input.sourceDateEpoch));
    const file = path.join(outDir, `${TOOLKIT_PACKAGE.name}_${version}_${arch}.ipk`);
    await writeFile(file, await tarGz(outer, input.sourceDateEpoch, ['./debian-binary', './data.tar.gz', './control.tar.gz']));
    return file;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A deterministic tar.gz of `dir`: entries `./…` in sorted order unless `order` is given. */
async function tarGz(dir: string, epoch: number, order?: string[]): Promise<Buffer> {
  const entries = order ?? ['./', ...(await walk(dir, '.'))];
  // modes from the executable bit alone: the umask the files were written under does not count
  for (const e of entries) {
    const p = path.join(dir, e);
    const st = await stat(p);
    await chmod(p, st.isDirectory() || st.mode & 0o100 ? 0o755 : 0o644);
  }
  const pack = new tar.Pack({ cwd: dir, portable: true, mtime: new Date(epoch * 1000), noDirRecurse: true });
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (b: Buffer) => chunks.push(b));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) pack.add(e);
  pack.end();
  await done;
  // gzip's header then holds no file name and mtime 0
  return gzipSync(Buffer.concat(chunks), { level: 9 });
}

async function walk(root: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(root, rel))).sort()) {
    const r = `${rel}/${name}`;
    if ((await stat(path.join(root, r))).isDirectory()) out.push(`${r}/`, ...(await walk(root, r)));
    else out.push(r);
  }
  return out;
}
