import test from 'ava';
import { cpioNewc, firstCpioDifference, readNewc, type CpioEntry, type CpioRecord } from '../../builder/util/cpio.js';

type Parsed = CpioRecord;
const parseNewc = readNewc;

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
  // (readNewc is the reader fwbuild verify uses; it shares no code with the writer)
  t.deepEqual(a.map((e) => e.path), ['bin', 'bin/busybox', 'dev', 'dev/console', 'etc', 'etc/inittab', 'init']);
  for (const e of a) {
    t.is(e.uid, 0);
    t.is(e.gid, 0);
    t.is(e.mtime, 1700000000);
  }
  const by = (n: string): Parsed => a.find((e) => e.path === n)!;
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

test('the first difference between two initramfs archives is named: member and what differs', (t) => {
  const one = cpioNewc(entries, 1);
  t.is(firstCpioDifference(one, cpioNewc([...entries].reverse(), 1)), undefined);
  const edited = entries.map((e) => (e.path === 'etc/inittab' ? { ...e, data: Buffer.from('::sysinit:/bin/sh\n') } : e));
  t.deepEqual(firstCpioDifference(one, cpioNewc(edited, 1)), { inner: 'etc/inittab', detail: 'contents (26 vs 18 bytes)' });
  t.deepEqual(firstCpioDifference(one, cpioNewc(entries.filter((e) => e.path !== 'init'), 1)), { inner: 'init', detail: 'only in the published archive' });
  t.deepEqual(firstCpioDifference(one, cpioNewc(entries, 2))?.inner, 'bin', 'the mtime of the first member');
  t.throws(() => firstCpioDifference(one, Buffer.from('not cpio')), { message: /not a newc cpio archive at byte 0/ });
});
