import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, symlink, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { BuildError } from '../../builder/errors.js';
import { fetchNpmSource, integrityKey } from '../../builder/sources/npm-source.js';
import { extractSafe } from '../../builder/util/archive.js';
import { tempDir } from '../helpers/tmp.js';

const sh = promisify(execFile);

/** GNU tar with -P keeps `..` and absolute names: the shapes a hostile archive has. */
async function hostileTar(dir: string, kind: 'dotdot' | 'absolute' | 'symlink' | 'fifo'): Promise<string> {
  const src = path.join(dir, 'src');
  await mkdir(path.join(src, 'pkg'), { recursive: true });
  await writeFile(path.join(src, 'pkg', 'ok.c'), 'int x;\n');
  const out = path.join(dir, `${kind}.tar`);
  if (kind === 'dotdot') {
    await writeFile(path.join(dir, 'evil.txt'), 'evil');
    await sh('tar', ['-cPf', out, '-C', src, 'pkg/ok.c', 'pkg/../../evil.txt']);
  } else if (kind === 'absolute') {
    await writeFile(path.join(dir, 'abs.txt'), 'evil');
    await sh('tar', ['-cPf', out, '-C', src, 'pkg/ok.c', path.join(dir, 'abs.txt')]);
  } else if (kind === 'symlink') {
    await symlink('/etc/passwd', path.join(src, 'pkg', 'link'));
    await sh('tar', ['-cf', out, '-C', src, 'pkg']);
  } else {
    await sh('mkfifo', [path.join(src, 'pkg', 'fifo')]);
    await sh('tar', ['-cf', out, '-C', src, 'pkg']);
  }
  return out;
}

for (const kind of ['dotdot', 'absolute', 'symlink', 'fifo'] as const) {
  test(`extraction refuses a ${kind} entry and leaves nothing behind`, async (t) => {
    const dir = await tempDir(t);
    const archive = await hostileTar(dir, kind);
    const dest = path.join(dir, 'out');
    const err = await t.throwsAsync(extractSafe(archive, dest), { instanceOf: BuildError });
    t.regex(err.message, new RegExp(`refusing ${kind}\\.tar: unsafe entries`));
    await t.throwsAsync(stat(dest), { code: 'ENOENT' });
    // nothing was written next to the destination either
    t.deepEqual((await readdir(dir)).filter((f) => f !== 'evil.txt' && f !== 'abs.txt').sort(), [`${kind}.tar`, 'src'].sort());
  });
}

test('extraction keeps only the wanted folder and strips its prefix', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'src', 'package', 'deps', 'q'), { recursive: true });
  await writeFile(path.join(dir, 'src', 'package', 'deps', 'q', 'a.c'), 'a');
  await writeFile(path.join(dir, 'src', 'package', 'other.c'), 'b');
  await sh('tar', ['-czf', path.join(dir, 'p.tgz'), '-C', path.join(dir, 'src'), 'package']);
  await extractSafe(path.join(dir, 'p.tgz'), path.join(dir, 'out'), { prefix: 'package/deps/q/' });
  t.deepEqual(await readdir(path.join(dir, 'out')), ['a.c']);
  t.is(await readFile(path.join(dir, 'out', 'a.c'), 'utf8'), 'a');
});

test('a source archive whose hash does not match its pin is discarded', async (t) => {
  const dir = await tempDir(t);
  const pinned = JSON.parse(await readFile(new URL('../../runner/quickjs.json', import.meta.url), 'utf8')) as {
    npm: string;
    integrity: string;
    path: string;
  };
  // The right package with a wrong pin: what a tampered or substituted download looks like.
  const wrong = { ...pinned, integrity: `sha512-${Buffer.alloc(64, 7).toString('base64')}` };
  const err = await t.throwsAsync(fetchNpmSource(wrong, dir, new AbortController().signal), { instanceOf: BuildError });
  t.regex(err.message, /qjsc@0\.3\.0: integrity mismatch: expected sha512-BwcH.*, got sha512-a7\+cU6/);
  t.deepEqual(await readdir(dir), [], 'no file kept');

  // A cached file that was altered after download is detected and fetched again.
  const cached = path.join(dir, `${integrityKey(pinned.integrity)}.tgz`);
  await writeFile(cached, 'tampered');
  const file = await fetchNpmSource(pinned, dir, new AbortController().signal);
  t.is(file, cached);
  t.true((await stat(file)).size > 100_000);
});

test('a source archive that expands past the cap is refused, and nothing past the cap is written', async (t) => {
  const dir = await tempDir(t);
  const src = path.join(dir, 'src', 'pkg');
  await mkdir(src, { recursive: true });
  await writeFile(path.join(src, 'a.bin'), randomBytes(3 * 1024 * 1024));
  await writeFile(path.join(src, 'b.bin'), randomBytes(3 * 1024 * 1024));
  const archive = path.join(dir, 'bomb.tgz');
  await sh('tar', ['-czf', archive, '-C', path.join(dir, 'src'), 'pkg']);
  const dest = path.join(dir, 'out');
  const e = await t.throwsAsync(extractSafe(archive, dest, { maxBytes: 4 * 1024 * 1024 }), { instanceOf: BuildError });
  t.is(e.message, 'refusing bomb.tgz: it expands to more than 4194304 bytes, far more than a source archive holds');
  await t.throwsAsync(stat(dest), undefined, 'nothing left behind');
  await extractSafe(archive, dest, { maxBytes: 8 * 1024 * 1024 });
  t.is((await stat(path.join(dest, 'pkg', 'b.bin'))).size, 3 * 1024 * 1024, 'under the cap it extracts');

  // zeros: node-tar's own decompression-ratio limit stops it first, in one clear line too
  await writeFile(path.join(src, 'a.bin'), Buffer.alloc(64 * 1024 * 1024));
  await rm(path.join(src, 'b.bin'));
  const zeros = path.join(dir, 'zeros.tgz');
  await sh('tar', ['-czf', zeros, '-C', path.join(dir, 'src'), 'pkg']);
  const z = await t.throwsAsync(extractSafe(zeros, path.join(dir, 'z')), { instanceOf: BuildError });
  t.regex(z.message, /^refusing zeros\.tgz: max decompression ratio exceeded/);
  await t.throwsAsync(stat(path.join(dir, 'z')));
});
