import type { Schema } from '../util/schema.js';

export type Endian = 'big' | 'little';
export type Provider = 'debian' | 'openwrt';

export interface QemuSpec {
  /** qemu-system binary, e.g. qemu-system-mips */
  system: string;
  /** qemu-user binary base name (qemu-mips); `-static` is tried first */
  user?: string;
  machine: string;
  cpu: string;
  /** `-device` model with its properties; `romfile=` keeps a PCI NIC from loading an iPXE boot
   * ROM, which a router booted with `-kernel` never runs (and Debian ships only as a Recommends) */
  nic: string;
  /** Serial console device the kernel is told to use (console=…) */
  console: string;
  /** Guest RAM in MiB (required for the debian provider's virtual routers) */
  memory?: number;
  /** OpenWrt's QEMU targets: the image file to boot, and extra arguments */
  kernelFile?: string;
  extraArgs?: string[];
}

export interface KernelSpec {
  /** `debian`: a packaged kernel; `build`: compiled from Debian's kernel source package */
  source: 'debian' | 'build';
  package: string;
  debianArch?: string;
  /** `build`: the fragment targets/kernels/<config>.config, the kernel ARCH and the image made */
  config?: string;
  arch?: string;
  image?: string;
  /** `debian`: module names the router needs that the package builds as modules (the NIC, TC);
   * their dependencies are found with modinfo and loaded first */
  modules?: string[];
}

export interface UserlandSpec {
  /** `debian`: Debian's busybox-static for debianArch; `build`: from Debian's busybox source package */
  busybox: 'debian' | 'build';
  debianArch?: string;
}

/** One row of the catalog: everything the code needs to know about a target, as data. */
export interface Target {
  name: string;
  provider: Provider;
  description: string;
  cpu: { family: 'mips' | 'arm' | 'aarch64'; endian: Endian; cflags: string[] };
  bpf: 'bpfeb' | 'bpfel';
  gcc: { debian?: string; openwrt?: string };
  openwrt?: { target: string; subtarget: string; arch: string; snapshotsOnly: boolean };
  qemu?: QemuSpec;
  kernel?: KernelSpec;
  /** The virtual router's initramfs userland */
  userland?: UserlandSpec;
  /** Board variants a debian target can be built for (the emulated machine). */
  profiles?: string[];
  /** The debian target that emulates this openwrt target's CPU family and byte order. */
  twin?: string;
}

const qemuSchema: Schema = {
  system: { kind: 'string' },
  user: { kind: 'string', optional: true },
  machine: { kind: 'string' },
  cpu: { kind: 'string' },
  nic: { kind: 'string' },
  console: { kind: 'string' },
  memory: { kind: 'integer', min: 32, optional: true },
  kernelFile: { kind: 'string', optional: true },
  extraArgs: { kind: 'strings', optional: true },
};

export const targetSchema: Schema = {
  name: { kind: 'string', pattern: /^[a-z0-9-]+(\/[a-z0-9-]+)?$/, patternHint: 'a name like "qemu-mips" or "ath79/generic"' },
  provider: { kind: 'enum', values: ['debian', 'openwrt'] },
  description: { kind: 'string' },
  cpu: {
    kind: 'object',
    fields: {
      family: { kind: 'enum', values: ['mips', 'arm', 'aarch64'] },
      endian: { kind: 'enum', values: ['big', 'little'] },
      cflags: { kind: 'strings' },
    },
  },
  bpf: { kind: 'enum', values: ['bpfeb', 'bpfel'] },
  gcc: {
    kind: 'object',
    fields: { debian: { kind: 'string', optional: true }, openwrt: { kind: 'string', optional: true } },
  },
  openwrt: {
    kind: 'object',
    optional: true,
    fields: {
      target: { kind: 'string' },
      subtarget: { kind: 'string' },
      arch: { kind: 'string' },
      snapshotsOnly: { kind: 'boolean' },
    },
  },
  qemu: { kind: 'object', optional: true, fields: qemuSchema },
  kernel: {
    kind: 'object',
    optional: true,
    fields: {
      source: { kind: 'enum', values: ['debian', 'build'] },
      package: { kind: 'string' },
      debianArch: { kind: 'string', optional: true },
      config: { kind: 'string', optional: true },
      arch: { kind: 'string', optional: true },
      image: { kind: 'string', optional: true },
      modules: { kind: 'strings', optional: true },
    },
  },
  userland: {
    kind: 'object',
    optional: true,
    fields: { busybox: { kind: 'enum', values: ['debian', 'build'] }, debianArch: { kind: 'string', optional: true } },
  },
  profiles: { kind: 'strings', optional: true },
  twin: { kind: 'string', optional: true },
};
