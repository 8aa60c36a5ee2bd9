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

export interface Arm32JitBlockers {
  /** BPF_STX | BPF_ATOMIC, any size */
  atomics: number;
  /** BPF_ALU64 | BPF_DIV or BPF_MOD, immediate or register */
  div64: number;
  /** BPF-to-BPF calls (BPF_CALL with src_reg BPF_PSEUDO_CALL) */
  calls: number;
}

/**
 * Instructions the ARM32 JIT of Linux 6.1 refuses with ENOTSUPP rather than falling back to the
 * interpreter, found in the code sections of a BPF object. Objects for routers must have none.
 */
export function arm32JitBlockers(buf: Buffer): Arm32JitBlockers {
  const found = { atomics: 0, div64: 0, calls: 0 };
  const be = buf[5] === 2;
  for (const s of elf64Sections(buf)) {
    if (!(s.flags & SHF_EXECINSTR)) continue;
    for (let o = s.offset; o + 8 <= s.offset + s.size; o += 8) {
      const op = buf[o]!;
      // dst and src registers share a byte; which nibble is which follows the byte order
      const src = be ? buf[o + 1]! & 0x0f : buf[o + 1]! >> 4;
      if ((op & 0x07) === 0x03 && (op & 0xe0) === 0xc0) found.atomics++;
      if ((op & 0xf7) === 0x37 || (op & 0xf7) === 0x97) found.div64++;
      if (op === 0x85 && src === 1) found.calls++;
      if (op === 0x18) o += 8; // lddw is 16 bytes; its second half is not an opcode
    }
  }
  return found;
}
