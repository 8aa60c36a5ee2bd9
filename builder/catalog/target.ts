import type { Infer, Schema } from '../util/schema.js';

/**
 * The catalog's row shapes, declared once as schemas: loadCatalog checks each row against its
 * provider's schema, and the TypeScript types below are derived from the same declarations.
 */

const pciAddr = { kind: 'string', pattern: /^0x[0-9a-f]{1,2}(\.[0-7])?$/, patternHint: 'a PCI slot such as "0x12" or "0x12.0"' } as const;

const qemuSchema = {
  /** qemu-system binary, e.g. qemu-system-mips */
  system: { kind: 'string' },
  /** qemu-user binary base name (qemu-mips); `-static` is tried first */
  user: { kind: 'string', optional: true },
  machine: { kind: 'string' },
  cpu: { kind: 'string' },
  /** `-device` model with its properties; `romfile=` keeps a PCI NIC from loading an iPXE boot
   * ROM, which a router booted with `-kernel` never runs (and Debian ships only as a Recommends) */
  nic: { kind: 'string' },
  /** PCI address (`slot` or `slot.function`) of each port's NIC, where the board's default
   * puts both on one interrupt: on Malta the first free slots share IRQ 10 through the i8259,
   * and a sustained download through the router wedged both NICs (2 runs of 2 on qemu-mips;
   * slots 0x12 and 0x14, on IRQs 10 and 11, carried 24 downloads of 8 MB in 4 runs) */
  nicAddr: {
    kind: 'object',
    optional: true,
    fields: { lan: pciAddr, wan: pciAddr },
  },
  /** Serial console device the kernel is told to use (console=…) */
  console: { kind: 'string' },
  /** Guest RAM in MiB (required for the debian provider's virtual routers) */
  memory: { kind: 'integer', min: 32, optional: true },
  /** OpenWrt's QEMU targets: the image file to boot, and extra arguments */
  kernelFile: { kind: 'string', optional: true },
  extraArgs: { kind: 'strings', optional: true },
} as const satisfies Schema;

const kernelSchema = {
  /** `debian`: a packaged kernel; `build`: compiled from Debian's kernel source package */
  source: { kind: 'enum', values: ['debian', 'build'] },
  package: { kind: 'string' },
  debianArch: { kind: 'string', optional: true },
  /** `build`: the fragment targets/kernels/<config>.config, the kernel ARCH and the image made */
  config: { kind: 'string', optional: true },
  arch: { kind: 'string', optional: true },
  image: { kind: 'string', optional: true },
  /** `debian`: module names the router needs that the package builds as modules (the NIC, TC);
   * their dependencies are found with modinfo and loaded first */
  modules: { kind: 'strings', optional: true },
} as const satisfies Schema;

const userlandSchema = {
  /** `debian`: Debian's busybox-static for debianArch; `build`: from Debian's busybox source package */
  busybox: { kind: 'enum', values: ['debian', 'build'] },
  debianArch: { kind: 'string', optional: true },
} as const satisfies Schema;

const openwrtSpecSchema = {
  target: { kind: 'string' },
  subtarget: { kind: 'string' },
  arch: { kind: 'string' },
  snapshotsOnly: { kind: 'boolean' },
} as const satisfies Schema;

/** The keys every row has, in the order a file lists them; `provider` names the row's own provider. */
const baseSchema = <P extends string>(provider: P) =>
  ({
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
  }) as const satisfies Schema;

/** A virtual router fwbuild builds whole from Debian's packages and boots in QEMU. */
const debianSchema = {
  ...baseSchema('debian'),
  gcc: { kind: 'object', fields: { debian: { kind: 'string' }, openwrt: { kind: 'string', optional: true } } },
  qemu: { kind: 'object', fields: { ...qemuSchema, user: { kind: 'string' }, memory: { kind: 'integer', min: 32 } } },
  kernel: { kind: 'object', fields: kernelSchema },
  /** The virtual router's initramfs userland */
  userland: { kind: 'object', fields: userlandSchema },
  /** Board variants it can be built for (the emulated machine). */
  profiles: { kind: 'strings' },
} as const satisfies Schema;

/** An OpenWrt device family: the toolkit packed and baked into images by the release's SDK and ImageBuilder. */
const openwrtSchema = {
  ...baseSchema('openwrt'),
  gcc: { kind: 'object', fields: { openwrt: { kind: 'string' }, debian: { kind: 'string', optional: true } } },
  openwrt: { kind: 'object', fields: openwrtSpecSchema },
  /** OpenWrt's own QEMU boards: how to boot the image it makes */
  qemu: { kind: 'object', optional: true, fields: qemuSchema },
  /** The debian target that emulates this target's CPU family and byte order. */
  twin: { kind: 'string', optional: true },
} as const satisfies Schema;

/** Each provider's row shape; a provider is a folder under builder/ and an entry here. */
export const targetSchemas = { debian: debianSchema, openwrt: openwrtSchema } as const satisfies Record<string, Schema>;

export type ProviderName = keyof typeof targetSchemas;
export type DebianTarget = Infer<typeof debianSchema>;
export type OpenWrtTarget = Infer<typeof openwrtSchema>;
/** One row of the catalog: everything the code needs to know about a target, as data. */
export type Target = DebianTarget | OpenWrtTarget;

export type QemuSpec = Infer<typeof qemuSchema>;
export type KernelSpec = Infer<typeof kernelSchema>;
export type UserlandSpec = Infer<typeof userlandSchema>;
export type OpenWrtSpec = Infer<typeof openwrtSpecSchema>;
export type Endian = Target['cpu']['endian'];

/** A target with a kernel and userland of its own is a virtual router: fwbuild test boots it. */
export const isVirtualRouter = (t: Target): t is DebianTarget => 'kernel' in t && 'userland' in t;

/** A device target names the virtual router of its CPU that stands in for it. */
export const twinOf = (t: Target): string | undefined => ('twin' in t ? t.twin : undefined);
