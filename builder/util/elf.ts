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

export interface ElfSection {
  nameOffset: number;
  type: number;
  flags: number;
  offset: number;
  size: number;
}

const SHF_EXECINSTR = 0x4;

/** Section headers of a 64-bit ELF file (BPF objects are always ELF64). */
export function elf64Sections(buf: Buffer): ElfSection[] {
  const be = buf[5] === 2;
  const u16 = (o: number): number => (be ? buf.readUInt16BE(o) : buf.readUInt16LE(o));
  const u32 = (o: number): number => (be ? buf.readUInt32BE(o) : buf.readUInt32LE(o));
  const u64 = (o: number): number => Number(be ? buf.readBigUInt64BE(o) : buf.readBigUInt64LE(o));
  if (buf[4] !== 2) throw new Error('not a 64-bit ELF file');
  const shoff = u64(0x28);
  const shentsize = u16(0x3a);
  const shnum = u16(0x3c);
  return Array.from({ length: shnum }, (_, i) => {
    const o = shoff + i * shentsize;
    return { nameOffset: u32(o), type: u32(o + 4), flags: u64(o + 8), offset: u64(o + 24), size: u64(o + 32) };
  });
}

/**
 * Counts BPF atomic instructions (BPF_STX | BPF_ATOMIC, any size) in the code sections of a
 * BPF object. The ARM32 JIT of Linux 6.1 refuses them, so objects for routers must have none.
 */
export function countBpfAtomics(buf: Buffer): number {
  let n = 0;
  for (const s of elf64Sections(buf)) {
    if (!(s.flags & SHF_EXECINSTR)) continue;
    for (let o = s.offset; o + 8 <= s.offset + s.size; o += 8) {
      const op = buf[o]!;
      if ((op & 0x07) === 0x03 && (op & 0xe0) === 0xc0) n++;
      if (op === 0x18) o += 8; // lddw is 16 bytes; its second half is not an opcode
    }
  }
  return n;
}
