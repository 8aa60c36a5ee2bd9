import type { QemuSpec } from '../catalog/target.js';
import type { RouterPorts } from './router-conf.js';

export interface QemuFiles {
  kernel: string;
  initramfs: string;
}

/** The Debian package that holds a qemu-system binary. */
export const qemuSystemPackage = (bin: string): string => (bin.startsWith('qemu-system-mips') ? 'qemu-system-mips' : 'qemu-system-arm');

/** Placeholders in the recorded command line; `fwbuild test` fills them with its tap devices. */
export const TAP = { lan: '{lanTap}', wan: '{wanTap}' } as const;

/**
 * The QEMU command line of a virtual router, from catalog data only: machine, CPU, RAM, serial
 * console, and one NIC per router port with the MAC the image's rcS looks for.
 */
export function qemuCommand(q: QemuSpec, files: QemuFiles, ports: RouterPorts, taps: { lan: string; wan: string } = TAP): string[] {
  const nic = (id: 'lan' | 'wan'): string[] => [
    '-netdev',
    `tap,id=${id},ifname=${taps[id]},script=no,downscript=no`,
    '-device',
    `${q.nic},netdev=${id},mac=${ports[id].mac}${q.nicAddr ? `,addr=${q.nicAddr[id]}` : ''}`,
  ];
  return [
    q.system,
    '-M',
    q.machine,
    '-cpu',
    q.cpu,
    '-m',
    String(q.memory ?? 256),
    '-display',
    'none',
    '-nodefaults',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    files.kernel,
    '-initrd',
    files.initramfs,
    '-append',
    `console=${q.console} rdinit=/init panic=-1`,
    ...nic('lan'),
    ...nic('wan'),
  ];
}
