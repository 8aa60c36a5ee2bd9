import test from 'ava';
import { countBpfAtomics } from '../builder/util/elf.js';

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

const insn = (op: number): Buffer => Buffer.from([op, 0, 0, 0, 0, 0, 0, 0]);

test('countBpfAtomics finds 32- and 64-bit atomics and skips the second half of lddw', (t) => {
  const code = Buffer.concat([
    insn(0xb7), // mov
    insn(0xdb), // atomic 64-bit (e.g. lock xadd)
    insn(0xc3), // atomic 32-bit
    insn(0x18), // lddw ...
    Buffer.from([0xdb, 0, 0, 0, 0, 0, 0, 0]), // ... whose second half happens to look like 0xdb
    insn(0x7b), // stx dw: a plain store
    insn(0x95), // exit
  ]);
  for (const be of [false, true]) t.is(countBpfAtomics(bpfElf(code, be)), 2);
  t.is(countBpfAtomics(bpfElf(Buffer.concat([insn(0xb7), insn(0x95)]), false)), 0);
});
