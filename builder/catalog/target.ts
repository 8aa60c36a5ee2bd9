import type { Schema } from '../util/schema.js';

export type Endian = 'big' | 'little';
/** The providers: each has a folder under builder/ and a schema below. */
export type ProviderName = 'debian' | 'openwrt';

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

/** What every row of the catalog has, whichever provider builds it. */
interface TargetBase {
  name: string;
  description: string;
  cpu: { family: 'mips' | 'arm' | 'aarch64'; endian: Endian; cflags: string[] };
  bpf: 'bpfeb' | 'bpfel';
}

/** A virtual router fwbuild builds whole from Debian's packages and boots in QEMU. */
export interface DebianTarget extends TargetBase {
  provider: 'debian';
  gcc: { debian: string; openwrt?: string };
  qemu: QemuSpec & { user: string; memory: number };
  kernel: KernelSpec;
  /** The virtual router's initramfs userland */
  userland: UserlandSpec;
  /** Board variants it can be built for (the emulated machine). */
  profiles: string[];
}

export interface OpenWrtSpec {
  target: string;
  subtarget: string;
  arch: string;
  snapshotsOnly: boolean;
}

/** An OpenWrt device family: the toolkit packed and baked into images by the release's SDK and ImageBuilder. */
export interface OpenWrtTarget extends TargetBase {
  provider: 'openwrt';
  gcc: { openwrt: string; debian?: string };
  openwrt: OpenWrtSpec;
  /** OpenWrt's own QEMU boards: how to boot the image it makes */
  qemu?: QemuSpec;
  /** The debian target that emulates this target's CPU family and byte order. */
  twin?: string;
}

/** One row of the catalog: everything the code needs to know about a target, as data. */
export type Target = DebianTarget | OpenWrtTarget;

/** A target with a kernel and userland of its own is a virtual router: fwbuild test boots it. */
export const isVirtualRouter = (t: Target): t is DebianTarget => 'kernel' in t && 'userland' in t;

/** A device target names the virtual router of its CPU that stands in for it. */
export const twinOf = (t: Target): string | undefined => ('twin' in t ? t.twin : undefined);

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

/** The keys every row has, in the order a file lists them; `provider` names the row's own provider. */
const baseSchema = (provider: ProviderName): Schema => ({
  name: { kind: 'string', pattern: /^[a-z0-9-]+(\/[a-z0-9-]+)?$/, patternHint: 'a name like "qemu-mips" or "ath79/generic"' },
  provider: { kind: 'enum', values: [provider] },
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
});

/** Each provider's shape, declared once: loadCatalog checks a row against its provider's schema. */
export const targetSchemas: Record<ProviderName, Schema> = {
  debian: {
    ...baseSchema('debian'),
    gcc: { kind: 'object', fields: { debian: { kind: 'string' }, openwrt: { kind: 'string', optional: true } } },
    qemu: {
      kind: 'object',
      fields: { ...qemuSchema, user: { kind: 'string' }, memory: { kind: 'integer', min: 32 } },
    },
    kernel: {
      kind: 'object',
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
      fields: { busybox: { kind: 'enum', values: ['debian', 'build'] }, debianArch: { kind: 'string', optional: true } },
    },
    profiles: { kind: 'strings' },
  },
  openwrt: {
    ...baseSchema('openwrt'),
    gcc: { kind: 'object', fields: { openwrt: { kind: 'string' }, debian: { kind: 'string', optional: true } } },
    openwrt: {
      kind: 'object',
      fields: {
        target: { kind: 'string' },
        subtarget: { kind: 'string' },
        arch: { kind: 'string' },
        snapshotsOnly: { kind: 'boolean' },
      },
    },
    qemu: { kind: 'object', optional: true, fields: qemuSchema },
    twin: { kind: 'string', optional: true },
  },
};
