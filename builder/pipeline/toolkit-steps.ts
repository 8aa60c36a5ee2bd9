import { availableParallelism } from 'node:os';
import type { Target } from '../catalog/target.js';
import { BuildError } from '../errors.js';
import type { Mount } from '../docker/step-container.js';

export type ArtifactKind = 'bpf-object' | 'runner' | 'model';

/** One compile step of the toolkit, as data: what runs in the toolchain container and what it leaves. */
export interface CompileStep {
  name: string;
  title: string;
  cmd: string[];
  /** Folder under /out the step fills, and the kind of every file in it. */
  outputs: { dir: string; kind: ArtifactKind };
  /** Sources it reads: only these are mounted, and only these are part of its cache key. */
  reads: SourceName[];
  /** Outputs of earlier steps this one reads, mounted read-only at /in/<step>. */
  after?: string[];
}

export type SourceName = 'bpf' | 'runner' | 'quickjs' | 'model';

/** Container paths of the inputs; the host side is decided by the pipeline. */
export const SRC = { bpf: '/src/bpf', runner: '/src/runner', quickjs: '/deps/quickjs', model: '/src/model/model.js', out: '/out' } as const;

export function sourceMounts(host: Record<SourceName, string>, reads: SourceName[]): Mount[] {
  return reads.map((name) => ({ host: host[name], container: SRC[name], readOnly: true }));
}

const make = (dir: string, vars: Record<string, string>): string[] => [
  'make',
  `-j${availableParallelism()}`,
  '-C',
  dir,
  ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
];

/** The steps that build the toolkit for one target, read off the catalog entry. */
export function toolkitSteps(target: Target, fwVersion: string): CompileStep[] {
  const triple = target.gcc.debian;
  if (!triple) throw new BuildError(`target ${target.name} has no Debian gcc triple in its catalog entry`);
  return [
    {
      name: 'bpf',
      title: `BPF objects (${target.bpf})`,
      cmd: make(SRC.bpf, { OUT: `${SRC.out}/bpf`, BPF_TARGET: target.bpf }),
      outputs: { dir: 'bpf', kind: 'bpf-object' },
      reads: ['bpf'],
    },
    {
      name: 'runner',
      title: `runner (${triple}-gcc, static)`,
      cmd: make(SRC.runner, {
        CROSS: `${triple}-`,
        QUICKJS_SRC: SRC.quickjs,
        OUT: `${SRC.out}/bin`,
        WORK: '/tmp/work',
        FW_VERSION: fwVersion,
        TARGET_CFLAGS: target.cpu.cflags.join(' '),
      }),
      outputs: { dir: 'bin', kind: 'runner' },
      // the runner includes the map layouts from bpf/include
      reads: ['runner', 'bpf', 'quickjs'],
    },
    {
      // QuickJS bytecode depends on the CPU's byte order, so the target's own runner writes it,
      // under qemu-user inside the container.
      name: 'model',
      title: `model bytecode (${target.cpu.family} ${target.cpu.endian}-endian)`,
      cmd: [
        'sh',
        '-c',
        'mkdir -p "$0/model" && "$1" /in/runner/bin/fwrunner compile "$2" "$0/model/model.qbc"',
        SRC.out,
        `${target.qemu?.user ?? qemuUserFor(target)}-static`,
        SRC.model,
      ],
      outputs: { dir: 'model', kind: 'model' },
      reads: ['model'],
      after: ['runner'],
    },
  ];
}

/** qemu-user binary for a target without a QEMU entry of its own (OpenWrt targets). */
function qemuUserFor(target: Target): string {
  const byFamily = { mips: target.cpu.endian === 'big' ? 'qemu-mips' : 'qemu-mipsel', arm: 'qemu-arm', aarch64: 'qemu-aarch64' };
  return byFamily[target.cpu.family];
}
