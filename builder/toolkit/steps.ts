import { availableParallelism } from 'node:os';
import type { DebianTarget } from '../catalog/target.js';
import type { Mount } from '../docker/step-container.js';
import { INFERENCE, type Inference } from '../config/inference.js';

export type ArtifactKind = 'bpf-object' | 'runner' | 'model' | 'kernel' | 'userland' | 'initramfs' | 'package' | 'firmware' | 'overlay';

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
  /** A step that runs in fwbuild itself instead of a container (it only assembles files). */
  host?: (io: HostStepIO) => Promise<void>;
  /** The image it runs in: fwbuild's Debian toolchain (default) or the target's OpenWrt SDK or ImageBuilder. */
  image?: 'toolchain' | 'sdk' | 'imagebuilder';
  /** Host networking: only ImageBuilder's `make image`, which fetches the release's packages. Compile steps never. */
  network?: boolean;
  /** false: an intermediate the published folder does not carry */
  publish?: boolean;
  /** Turns the step's log into clear problems; any problem fails the step, even on exit 0. */
  explain?: (log: string) => string[];
}

export interface HostStepIO {
  out: string;
  /** Output folders of the steps named in `after` */
  after: Record<string, string>;
  /** Overlay layers of the target, in order */
  overlays: string[];
  sourceDateEpoch: number;
}

export type SourceName = 'bpf' | 'runner' | 'quickjs' | 'model' | 'kernelConfig' | 'overlays';

/** Container paths of the inputs; the host side is decided by the pipeline. */
export const SRC = {
  bpf: '/src/bpf',
  runner: '/src/runner',
  quickjs: '/deps/quickjs',
  model: '/src/model/model.js',
  kernelConfig: '/src/kernel.config',
  overlays: '/src/overlays',
  out: '/out',
} as const;

export function sourceMounts(host: Record<SourceName, string>, reads: SourceName[]): Mount[] {
  return reads.map((name) => ({ host: host[name], container: SRC[name], readOnly: true }));
}

const make = (dir: string, vars: Record<string, string>, goals: string[] = []): string[] => [
  'make',
  `-j${availableParallelism()}`,
  '-C',
  dir,
  ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
  ...goals,
];

/**
 * How the runner is built for a choice of inference, for every compiler that builds it: with
 * QuickJS from its pinned source, or (the in-kernel model alone) without it, so the image
 * carries no JavaScript engine it would never run (runner/Makefile's QUICKJS=0).
 */
export function runnerBuild(inference: Inference): { vars: Record<string, string>; reads: SourceName[] } {
  return INFERENCE[inference].quickjs
    ? { vars: { QUICKJS_SRC: SRC.quickjs }, reads: ['runner', 'bpf', 'quickjs'] }
    : { vars: { QUICKJS: '0' }, reads: ['runner', 'bpf'] };
}

/**
 * The toolkit every provider ships (BPF objects, runner, model bytecode), built by the Debian
 * toolchain for a virtual router's CPU; OpenWrt targets take these from their twin. `inference`
 * (INFERENCE) decides which BPF object, and whether there is model bytecode.
 */
export function toolkitSteps(target: DebianTarget, fwVersion: string, inference: Inference = 'quickjs'): CompileStep[] {
  const triple = target.gcc.debian;
  const qemuUser = target.qemu.user;
  const use = INFERENCE[inference];
  const runner = runnerBuild(inference);
  const steps: CompileStep[] = [
    {
      name: 'bpf',
      title: `BPF objects (${target.bpf}${use.bpfGoal === 'all' ? '' : ', with the in-kernel model'})`,
      // the default goal keeps the command, and so the cache key, of builds before `inference`
      cmd: make(SRC.bpf, { OUT: `${SRC.out}/bpf`, BPF_TARGET: target.bpf }, use.bpfGoal === 'all' ? [] : [use.bpfGoal]),
      outputs: { dir: 'bpf', kind: 'bpf-object' },
      reads: ['bpf'],
    },
    {
      name: 'runner',
      title: `runner (${triple}-gcc, static${use.quickjs ? '' : ', without QuickJS'})`,
      cmd: make(SRC.runner, {
        CROSS: `${triple}-`,
        ...runner.vars,
        OUT: `${SRC.out}/bin`,
        WORK: '/tmp/work',
        FW_VERSION: fwVersion,
        TARGET_CFLAGS: target.cpu.cflags.join(' '),
      }),
      outputs: { dir: 'bin', kind: 'runner' },
      // the runner includes the map layouts from bpf/include
      reads: runner.reads,
    },
  ];
  if (use.quickjs) {
    steps.push({
      // QuickJS bytecode depends on the CPU's byte order, so the target's own runner writes it,
      // under qemu-user inside the container.
      name: 'model',
      title: `model bytecode (${target.cpu.family} ${target.cpu.endian}-endian)`,
      cmd: [
        'sh',
        '-c',
        'mkdir -p "$0/model" && "$1" /in/runner/bin/fwrunner compile "$2" "$0/model/model.qbc"',
        SRC.out,
        `${qemuUser}-static`,
        SRC.model,
      ],
      outputs: { dir: 'model', kind: 'model' },
      reads: ['model'],
      after: ['runner'],
    });
  }
  return steps;
}
