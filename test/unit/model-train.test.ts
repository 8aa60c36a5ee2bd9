/**
 * The shipped model is reproducible from the committed lab data: retraining its grid point
 * with Debian's scikit-learn gives the same JavaScript, byte for byte, and the same check file.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectPath } from '../../builder/util/paths.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

test('retraining the shipped grid point from models/data reproduces models/video-quality.js and its check file exactly', async (t) => {
  const shipped = await readFile(projectPath('models', 'video-quality.js'), 'utf8');
  const m = /\b(rf-(\d+)x(\d+)):/.exec(shipped);
  t.truthy(m, 'the header names the grid point');
  const out = await tempDir(t);
  const { stdout } = await run('/usr/bin/python3', [projectPath('models', 'train.py'), '--data', projectPath('models', 'data'), '--out', out], {
    env: { ...process.env, GRID_TREES: m![2]!, GRID_DEPTH: m![3]! },
  });
  t.regex(stdout, new RegExp(`^${m![1]}: accuracy `, 'm'));
  t.is(await readFile(path.join(out, `${m![1]}.js`), 'utf8'), shipped);
  t.is(await readFile(path.join(out, `${m![1]}.check.jsonl`), 'utf8'), await readFile(projectPath('models', 'video-quality.check.jsonl'), 'utf8'));
});

test('retraining the in-kernel forest from models/data reproduces bpf/include/fw_forest_model.h, its check file and its summary exactly', async (t) => {
  const out = await tempDir(t);
  const files = { header: path.join(out, 'fw_forest_model.h'), check: path.join(out, 'check.jsonl'), summary: path.join(out, 'summary.json') };
  const { stdout } = await run('/usr/bin/python3', [
    projectPath('models', 'kernel_forest.py'), '--data', projectPath('models', 'data'),
    '--header', files.header, '--check', files.check, '--summary', files.summary,
  ]);
  // the kernel's integer class sums must pick sklearn's class on every row, or the export is not exact
  t.regex(stdout, /integer sums differ from sklearn's on 0 of \d+ rows/);
  t.is(await readFile(files.header, 'utf8'), await readFile(projectPath('bpf', 'include', 'fw_forest_model.h'), 'utf8'));
  t.is(await readFile(files.check, 'utf8'), await readFile(projectPath('models', 'kernel-forest.check.jsonl'), 'utf8'));
  t.is(await readFile(files.summary, 'utf8'), await readFile(projectPath('models', 'kernel-forest.json'), 'utf8'));
});
