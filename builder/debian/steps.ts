import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DebianTarget } from '../catalog/target.js';
import { INFERENCE, type Inference } from '../config/inference.js';
import { CONFFILE_LAYER, conffileSteps } from '../toolkit/conffile.js';
import { SRC, toolkitSteps, type CompileStep } from '../toolkit/steps.js';
import { buildInitramfs, initramfsCodeHash } from './initramfs.js';

/** A virtual router's steps: the toolkit, then its kernel, busybox and the initramfs that holds them. */
export function debianSteps(target: DebianTarget, fwVersion: string, inference: Inference = 'quickjs'): CompileStep[] {
  return [...toolkitSteps(target, fwVersion, inference), ...kernelSteps(target), ...userlandSteps(target), ...conffileSteps(inference), ...imageSteps(target, inference)];
}

/** The virtual router's initramfs, assembled from the steps before it and the overlay. */
function imageSteps(target: DebianTarget, inference: Inference): CompileStep[] {
  const conffile = conffileSteps(inference).map((c) => c.name);
  const after = ['bpf', 'runner', ...(INFERENCE[inference].quickjs ? ['model'] : []), 'kernel', 'userland', ...conffile];
  return [
    {
      name: 'image',
      title: 'initramfs (busybox, modules, toolkit, overlay)',
      // the assembling code is part of the key, as a container step's command line is
      // (and the choice of model, but not the default's: its key stays that of earlier builds)
      cmd: ['fwbuild-host', 'initramfs', initramfsCodeHash, ...(inference === 'quickjs' ? [] : [inference])],
      outputs: { dir: 'image', kind: 'initramfs' },
      reads: ['overlays'],
      after,
      host: async (io) => {
        // the runner's settings for the choice, over the target's layers
        const overlays = [...io.overlays, ...conffile.map((c) => path.join(io.after[c]!, CONFFILE_LAYER))];
        const cpio = await buildInitramfs(target, { steps: io.after, overlays, mtime: io.sourceDateEpoch, inference });
        await mkdir(path.join(io.out, 'image'), { recursive: true });
        await writeFile(path.join(io.out, 'image', 'initramfs.cpio'), cpio);
      },
    },
  ];
}

/** Kernel for a virtual router: built from Debian's source package, or taken from a Debian package. */
function kernelSteps(target: DebianTarget): CompileStep[] {
  const k = target.kernel;
  const triple = target.gcc.debian;
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
function userlandSteps(target: DebianTarget): CompileStep[] {
  const u = target.userland;
  const triple = target.gcc.debian;
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
          `${target.qemu.user}-static ${SRC.out}/userland/busybox --list-full | sort > ${SRC.out}/userland/busybox.links`,
          `test -s ${SRC.out}/userland/busybox.links`,
        ].join('\n'),
      ],
      outputs: { dir: 'userland', kind: 'userland' },
      reads: [],
    },
  ];
}
