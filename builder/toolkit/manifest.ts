import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Target } from '../catalog/target.js';
import { readElfHeader } from '../util/elf.js';
import { listFiles, sha256File } from '../util/hash.js';
import type { ArtifactKind } from './steps.js';

export interface Artifact {
  path: string;
  kind: ArtifactKind;
  /** `bpfeb`/`bpfel` for BPF objects, `<family>-<endian>` for native code */
  arch: string;
  /** absent for files that are not ELF (compressed kernel images) */
  elf?: { machine: string; bits: number; byteOrder: string };
  size: number;
  sha256: string;
}

export interface ManifestInputs {
  baseImage: { ref: string; id: string };
  toolchainImage: { ref: string; id: string };
  quickjs: { npm: string; integrity: string; version: string; patches: { file: string; sha256: string }[] };
  model: { file: string; sha256: string };
  /** Overlay layers applied, in order, with a hash of each. */
  overlays: Record<string, string>;
  sources: Record<string, string>;
  /** OpenWrt targets: the release, the verified downloads and the images made from them */
  openwrt?: {
    release: string;
    dir: string;
    signedBy: string;
    packages: string[];
    sdk: { name: string; sha256: string; image: { ref: string; id: string } };
    imageBuilder: { name: string; sha256: string; image: { ref: string; id: string } };
  };
}

export interface Manifest {
  fwbuild: string;
  target: string;
  provider: string;
  profile: string;
  sourceDateEpoch: number;
  artifacts: Artifact[];
  inputs: ManifestInputs;
  /** Virtual routers: the exact QEMU command line, paths relative to this folder. */
  qemu?: { argv: string[]; taps: string };
}

export async function describeArtifact(root: string, rel: string, kind: ArtifactKind, target: Target): Promise<Artifact> {
  const file = path.join(root, rel);
  // Bytecode is not ELF but carries the CPU's byte order all the same; zImage and Image kernels are not ELF.
  const elf =
    kind === 'model'
      ? { machineName: 'QuickJS bytecode', bits: 0, byteOrder: target.cpu.endian }
      : await readElfHeader(file).catch(() => undefined);
  const { size } = await stat(file);
  return {
    path: rel,
    kind,
    // a settings file fits any CPU: OpenWrt's word for that is "all"
    arch: kind === 'bpf-object' ? target.bpf : kind === 'overlay' ? 'all' : `${target.cpu.family}-${target.cpu.endian}`,
    ...(elf ? { elf: { machine: elf.machineName, bits: elf.bits, byteOrder: elf.byteOrder } } : {}),
    size,
    sha256: await sha256File(file),
  };
}

/** `sha256sums` in OpenWrt's format (`<hex> *<file>`), over every file but itself. */
export async function writeSha256sums(root: string): Promise<void> {
  const lines: string[] = [];
  for (const rel of await listFiles(root)) {
    if (rel === 'sha256sums') continue;
    lines.push(`${await sha256File(path.join(root, rel))} *${rel}`);
  }
  await writeFile(path.join(root, 'sha256sums'), `${lines.join('\n')}\n`);
}

export async function writeManifest(root: string, manifest: Manifest): Promise<void> {
  await writeFile(path.join(root, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}
