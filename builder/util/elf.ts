import { open } from 'node:fs/promises';

/** e_machine values fwbuild produces (from the ELF spec / linux/elf-em.h). */
export const EM = { MIPS: 8, ARM: 40, X86_64: 62, AARCH64: 183, BPF: 247 } as const;
export type ElfMachineName = keyof typeof EM;

export interface ElfHeader {
  bits: 32 | 64;
  byteOrder: 'little' | 'big';
  machine: number;
  machineName: ElfMachineName | 'unknown';
  /** ET_REL (1) for BPF objects, ET_EXEC (2) for static binaries. */
  type: number;
}

/** Reads the ELF identification and header fields that say what a file will run on. */
export async function readElfHeader(file: string): Promise<ElfHeader> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(20);
    const { bytesRead } = await fh.read(buf, 0, 20, 0);
    if (bytesRead < 20 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
    const bits = buf[4] === 2 ? 64 : 32;
    const byteOrder = buf[5] === 2 ? 'big' : 'little';
    const u16 = (off: number): number => (byteOrder === 'big' ? buf.readUInt16BE(off) : buf.readUInt16LE(off));
    const machine = u16(18);
    const name = (Object.keys(EM) as ElfMachineName[]).find((k) => EM[k] === machine) ?? 'unknown';
    return { bits, byteOrder, machine, machineName: name, type: u16(16) };
  } finally {
    await fh.close();
  }
}

/** The e_machine a target's native binaries must carry. */
export const machineForFamily = (family: 'mips' | 'arm' | 'aarch64'): number =>
  ({ mips: EM.MIPS, arm: EM.ARM, aarch64: EM.AARCH64 })[family];
