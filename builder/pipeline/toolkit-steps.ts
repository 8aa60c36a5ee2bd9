import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { buildInitramfs, initramfsCodeHash } from '../image/initramfs.js';
import type { Target } from '../catalog/target.js';
import { BuildError } from '../errors.js';
import type { Mount } from '../docker/step-container.js';

export type ArtifactKind = 'bpf-object' | 'runner' | 'model' | 'kernel' | 'userland' | 'initramfs' | 'package' | 'firmware';

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
  const qemuUser = target.qemu?.user;
  if (!triple || !qemuUser) {
    throw new BuildError(`target ${target.name} needs gcc.debian and qemu.user in its catalog entry to build the toolkit`);
  }
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
        `${qemuUser}-static`,
        SRC.model,
      ],
      outputs: { dir: 'model', kind: 'model' },
      reads: ['model'],
      after: ['runner'],
    },
    ...kernelSteps(target),
    ...userlandSteps(target),
    ...imageSteps(target),
  ];
}

/** The virtual router's initramfs, assembled from the steps before it and the overlay. */
function imageSteps(target: Target): CompileStep[] {
  if (target.provider !== 'debian' || !target.kernel || !target.userland) return [];
  const after = ['bpf', 'runner', 'model', 'kernel', 'userland'];
  return [
    {
      name: 'image',
      title: 'initramfs (busybox, modules, toolkit, overlay)',
      // the assembling code is part of the key, as a container step's command line is
      cmd: ['fwbuild-host', 'initramfs', initramfsCodeHash],
      outputs: { dir: 'image', kind: 'initramfs' },
      reads: ['overlays'],
      after,
      host: async (io) => {
        const cpio = await buildInitramfs(target, { steps: io.after, overlays: io.overlays, mtime: io.sourceDateEpoch });
        await mkdir(path.join(io.out, 'image'), { recursive: true });
        await writeFile(path.join(io.out, 'image', 'initramfs.cpio'), cpio);
      },
    },
  ];
}

/** Kernel for a virtual router: built from Debian's source package, or taken from a Debian package. */
function kernelSteps(target: Target): CompileStep[] {
  const k = target.kernel;
  if (!k || target.provider !== 'debian') return [];
  const triple = target.gcc.debian!;
  if (k.source === 'build') {
    return [
      {
        name: 'kernel',
        title: `kernel from ${k.package} (${k.config}, about 10 min the first time)`,
        cmd: [
          'sh',
          '-c',
          [
            'set -e',
            // the catalog names the source package; the toolchain image installs it (a test checks both agree)
            `tar xf /usr/src/${k.package}.tar.xz -C /tmp`,
            `cd /tmp/${k.package}`,
            // no build time, user or host in the image
            'export KBUILD_BUILD_TIMESTAMP="@$SOURCE_DATE_EPOCH" KBUILD_BUILD_USER=fwbuild KBUILD_BUILD_HOST=fwbuild',
            `KCONFIG_ALLCONFIG=${SRC.kernelConfig} make ARCH=${k.arch} CROSS_COMPILE=${triple}- allnoconfig`,
            // a fragment line that Kconfig dropped (a missing dependency) is an error, not a surprise at boot
            `lost=$(grep '^CONFIG_.*=y$' ${SRC.kernelConfig} | while read -r l; do grep -qx "$l" .config || echo "\${l%%=*}"; done)`,
            '[ -z "$lost" ] || { echo "kernel config: these options did not survive olddefconfig:" $lost; exit 1; }',
            `make ARCH=${k.arch} CROSS_COMPILE=${triple}- -j$(nproc) ${k.image}`,
            `mkdir -p ${SRC.out}/kernel && cp ${k.image} ${SRC.out}/kernel/`,
          ].join('\n'),
        ],
        outputs: { dir: 'kernel', kind: 'kernel' },
        reads: ['kernelConfig'],
      },
    ];
  }
  const modules = k.modules ?? [];
  return [
    {
      name: 'kernel',
      title: `kernel from Debian's ${k.package}:${k.debianArch}`,
      cmd: [
        'sh',
        '-c',
        [
          'set -e',
          `dpkg-deb -x /opt/fwbuild/kernels/${k.package}.deb /tmp/k`,
          `mkdir -p ${SRC.out}/kernel/modules`,
          `cp /tmp/k/boot/vmlinu* ${SRC.out}/kernel/`,
          'moddir=$(echo /tmp/k/lib/modules/*)',
          'find "$moddir" -name "*.ko" | sort > /tmp/all',
          'order=""',
          // a module's dependencies (modinfo's depends=) are copied, and listed, before it
          'add() {',
          '  local f d',
          '  case " $order " in *" $1 "*) return 0;; esac',
          '  f=$(grep -E "/$(echo "$1" | sed "s/[-_]/[-_]/g")\\.ko$" /tmp/all) || {',
          '    grep -qE "/$1\\.ko$" "$moddir/modules.builtin" && { echo "$1 is built into the kernel"; return 0; }',
          `    echo "module $1 is neither a module nor built in: not in ${k.package}"; exit 1; }`,
          '  for d in $(modinfo -F depends "$f" | tr , " "); do add "$d"; done',
          `  order="$order $1"; cp "$f" ${SRC.out}/kernel/modules/`,
          '}',
          `for m in ${modules.join(' ')}; do add "$m"; done`,
          `for m in $order; do echo "$m"; done > ${SRC.out}/kernel/modules/load-order`,
        ].join('\n'),
      ],
      outputs: { dir: 'kernel', kind: 'kernel' },
      reads: [],
    },
  ];
}

/** busybox for the router's initramfs: Debian's static binary, or built from Debian's source package. */
function userlandSteps(target: Target): CompileStep[] {
  const u = target.userland;
  if (!u || target.provider !== 'debian') return [];
  const triple = target.gcc.debian!;
  const fetch =
    u.busybox === 'debian'
      ? [`dpkg-deb -x /opt/fwbuild/userland/busybox-static.${u.debianArch}.deb /tmp/bb`, `cp /tmp/bb/bin/busybox ${SRC.out}/userland/busybox`]
      : [
          'cp -a /opt/fwbuild/userland/busybox-src /tmp/bb',
          'cd /tmp/bb',
          // Debian's own configuration of its busybox-static package, for a CPU Debian has no port for
          'cp debian/config/pkg/static .config',
          `sed -i 's|^CONFIG_EXTRA_CFLAGS=.*|CONFIG_EXTRA_CFLAGS="${target.cpu.cflags.join(' ')}"|' .config`,
          `make CROSS_COMPILE=${triple}- oldconfig </dev/null >/dev/null`,
          `make CROSS_COMPILE=${triple}- BB_EXTRA_VERSION="Debian $(cat debian/changelog | sed -n '1s/.*(\\(.*\\)).*/\\1/p'), fwbuild" -j$(nproc) busybox`,
          `cp busybox ${SRC.out}/userland/busybox`,
        ];
  return [
    {
      name: 'userland',
      title: u.busybox === 'debian' ? `busybox from Debian's busybox-static:${u.debianArch}` : `busybox from Debian's source package (${triple}-gcc)`,
      cmd: [
        'sh',
        '-c',
        [
          'set -e',
          `mkdir -p ${SRC.out}/userland`,
          ...fetch,
          // the applet list, from the binary itself (under qemu-user), becomes the initramfs links
          `${target.qemu!.user}-static ${SRC.out}/userland/busybox --list-full | sort > ${SRC.out}/userland/busybox.links`,
          `test -s ${SRC.out}/userland/busybox.links`,
        ].join('\n'),
      ],
      outputs: { dir: 'userland', kind: 'userland' },
      reads: [],
    },
  ];
}
