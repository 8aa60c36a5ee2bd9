import test from 'ava';
import { lstat, mkdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chownTree } from '../../builder/util/publish.js';
import { tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;

(root ? test : test.skip)('chownTree gives links themselves to the user, never what they point at, and takes dangling links', async (t) => {
  const dir = await tempDir(t);
  const outside = path.join(dir, 'outside');
  await writeFile(outside, 'not the tree\'s');
  const tree = path.join(dir, 'tree');
  await mkdir(path.join(tree, 'sub'), { recursive: true });
  await writeFile(path.join(tree, 'sub', 'file'), 'x');
  await symlink(outside, path.join(tree, 'sub', 'link'));
  await symlink('missing', path.join(tree, 'dangling'));
  await chownTree(tree, 10001, 10001);
  t.is((await stat(path.join(tree, 'sub', 'file'))).uid, 10001);
  t.is((await lstat(path.join(tree, 'sub', 'link'))).uid, 10001);
  t.is((await lstat(path.join(tree, 'dangling'))).uid, 10001);
  t.is((await stat(outside)).uid, 0, 'the link\'s target is untouched');
});
