import test from 'ava';
import { arm32JitBlockers } from '../../builder/util/elf.js';

/** A minimal ELF64 with one executable section holding `code`, in either byte order. */
function bpfElf(code: Buffer, be: boolean): Buffer {
  const shoff = 64 + code.length;
  const b = Buffer.alloc(shoff + 2 * 64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2;
  b[5] = be ? 2 : 1;
  const w16 = (v: number, o: number) => (be ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o));
  const w32 = (v: number, o: number) => (be ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
  const w64 = (v: number, o: number) => (be ? b.writeBigUInt64BE(BigInt(v), o) : b.writeBigUInt64LE(BigInt(v), o));
  w16(247, 18);
  w64(shoff, 0x28);
  w16(64, 0x3a);
  w16(2, 0x3c);
  code.copy(b, 64);
  const sh = shoff + 64; // section 1; section 0 stays null
  w32(1, sh + 4); // SHT_PROGBITS
  w64(0x6, sh + 8); // SHF_ALLOC | SHF_EXECINSTR
  w64(64, sh + 24);
  w64(code.length, sh + 32);
  return b;
}

const insn = (op: number, regs = 0): Buffer => Buffer.from([op, regs, 0, 0, 0, 0, 0, 0]);

test('arm32JitBlockers finds atomics, 64-bit division and BPF-to-BPF calls, and skips the second half of lddw', (t) => {
  for (const be of [false, true]) {
    const pseudoCall = be ? 0x01 : 0x10; // src_reg = 1 in the byte order's nibble
    const code = Buffer.concat([
      insn(0xb7), // mov
      insn(0xdb), // atomic 64-bit (lock xadd)
      insn(0xc3), // atomic 32-bit
      insn(0x37), // div64 by immediate
      insn(0x9f), // mod64 by register
      insn(0x34), // div32: fine
      insn(0x85, pseudoCall), // call to a BPF function
      insn(0x85), // helper call: fine
      insn(0x18), // lddw ...
      Buffer.from([0xdb, 0, 0, 0, 0, 0, 0, 0]), // ... whose second half happens to look like 0xdb
      insn(0x7b), // stx dw: a plain store
      insn(0x95), // exit
    ]);
    t.deepEqual(arm32JitBlockers(bpfElf(code, be)), { atomics: 2, div64: 2, calls: 1 }, be ? 'big-endian' : 'little-endian');
  }
  t.deepEqual(arm32JitBlockers(bpfElf(Buffer.concat([insn(0xb7), insn(0x95)]), false)), { atomics: 0, div64: 0, calls: 0 });
});
