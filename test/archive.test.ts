import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, symlink, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BuildError } from '../builder/errors.js';
import { fetchNpmSource, integrityKey } from '../builder/sources/npm-source.js';
import { extractSafe } from '../builder/util/archive.js';
import { tempDir } from './helpers/tmp.js';

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
  const pinned = JSON.parse(await readFile(new URL('../runner/quickjs.json', import.meta.url), 'utf8')) as {
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
