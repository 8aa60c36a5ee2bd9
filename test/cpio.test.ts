import test from 'ava';
import { cpioNewc, type CpioEntry } from '../builder/util/cpio.js';

interface Parsed {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  rdev: [number, number];
  data: Buffer;
}

/** Reads a newc archive back, independently of the writer, field by field. */
function parseNewc(buf: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let off = 0;
  const align = (n: number): number => (n + 3) & ~3;
  for (;;) {
    if (buf.toString('ascii', off, off + 6) !== '070701') throw new Error(`bad magic at ${off}`);
    const f = (i: number): number => parseInt(buf.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16);
    const [mode, uid, gid, mtime, size, rmaj, rmin, namesize] = [f(1), f(2), f(3), f(5), f(6), f(9), f(10), f(11)];
    const name = buf.toString('utf8', off + 110, off + 110 + namesize - 1);
    const dataAt = align(off + 110 + namesize);
    off = align(dataAt + size);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, mode, uid, gid, mtime, rdev: [rmaj, rmin], data: buf.subarray(dataAt, dataAt + size) });
  }
}

const entries: CpioEntry[] = [
  { path: 'init', type: 'symlink', target: '/bin/busybox' },
  { path: 'bin/busybox', type: 'file', data: Buffer.from('\x7fELF...'), mode: 0o755 },
  { path: 'dev/console', type: 'char', major: 5, minor: 1 },
  { path: 'bin', type: 'dir' },
  { path: 'dev', type: 'dir' },
  { path: 'etc/inittab', type: 'file', data: Buffer.from('::sysinit:/etc/init.d/rcS\n') },
  { path: 'etc', type: 'dir' },
];

test('newc initramfs: sorted entries, 0:0, one mtime, links and device nodes as the kernel reads them', (t) => {
  const a = parseNewc(cpioNewc(entries, 1700000000));
  t.deepEqual(a.map((e) => e.name), ['bin', 'bin/busybox', 'dev', 'dev/console', 'etc', 'etc/inittab', 'init']);
  for (const e of a) {
    t.is(e.uid, 0);
    t.is(e.gid, 0);
    t.is(e.mtime, 1700000000);
  }
  const by = (n: string): Parsed => a.find((e) => e.name === n)!;
  t.is(by('bin').mode, 0o040755);
  t.is(by('bin/busybox').mode, 0o100755);
  t.is(by('etc/inittab').mode, 0o100644);
  t.is(by('etc/inittab').data.toString(), '::sysinit:/etc/init.d/rcS\n');
  t.is(by('init').mode, 0o120777);
  t.is(by('init').data.toString(), '/bin/busybox', 'a symlink stores its target as data');
  t.is(by('dev/console').mode, 0o020600);
  t.deepEqual(by('dev/console').rdev, [5, 1]);
});

test('newc initramfs: the same entries in any order give the same bytes; a path listed twice is refused', (t) => {
  const one = cpioNewc(entries, 1);
  const two = cpioNewc([...entries].reverse(), 1);
  t.true(one.equals(two));
  t.false(one.equals(cpioNewc(entries, 2)), 'the mtime is in the archive');
  t.throws(() => cpioNewc([...entries, { path: 'etc', type: 'dir' }], 1), { message: /etc is listed twice/ });
});
