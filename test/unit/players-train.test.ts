/**
 * models/players_train.py: the real-player report is reproducible from the committed runs, and
 * merging a session's connections (the runner change it evaluates) computes what one record of
 * their traffic would hold.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectPath } from '../../builder/util/paths.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const python = (code: string, input: unknown) =>
  run('/usr/bin/python3', ['-c', `import json, sys; sys.path.insert(0, ${JSON.stringify(projectPath('models'))}); import players_train as P; x = json.loads(sys.argv[1]); ${code}`, JSON.stringify(input)]);

test('rerunning players_train.py on the committed runs gives models/players.json exactly', async (t) => {
  const shipped = JSON.parse(await readFile(projectPath('models', 'players.json'), 'utf8')) as { runs: string[]; model: string };
  const out = path.join(await tempDir(t), 'players.json');
  const args = shipped.runs.slice(1).flatMap((d) => ['--data', projectPath(d)]);
  await run('/usr/bin/python3', [projectPath('models', 'players_train.py'), ...args, '--out', out, ...(shipped.model.includes('merged') ? ['--group'] : [])], { maxBuffer: 64 << 20 });
  t.is(await readFile(out, 'utf8'), await readFile(projectPath('models', 'players.json'), 'utf8'));
});

test('merging connections adds their counts and keeps the newest segments of all, the early ends from the oldest connection', async (t) => {
  const conn = (o: Record<string, unknown>) => ({
    upPackets: 10, upBytes: 1000, upPayload: 500, upMbps: 0.1, upRetrans: 0, upGaps: 0, downPackets: 100, downBytes: 150_000, downPayload: 140_000,
    downMbps: 2, downRetrans: 1, downGaps: 0, segStarted: 2, upRetransBytes: 0, downRetransBytes: 1400, upStreamBytes: 500, downStreamBytes: 140_000,
    upMeanSize: 100, downMeanSize: 1500, segMeanDown: 70_000, segMeanMs: 100, segLastDown: 60_000, segLastMs: 90, ageS: 20, parallelFlows: 2,
    upSizeHist: [1, 2, 0, 0], upIatHist: [0, 1, 0, 0], downSizeHist: [0, 0, 5, 5], downIatHist: [3, 0, 0, 0],
    ...o,
  });
  const a = conn({ segAgoMs: [1000, 5000, 9000, 0], segBytes: [60_000, 80_000, 70_000, 0], segEndMs: [300, 900, 0], ageS: 20, segLastDown: 60_000, segLastMs: 90 });
  const b = conn({ segAgoMs: [500, 4000, 8000, 12_000], segBytes: [20_000, 21_000, 22_000, 23_000], segEndMs: [200, 0, 0], ageS: 19.5, segStarted: 1, segMeanDown: 20_000, segMeanMs: 40, segLastDown: 20_000, segLastMs: 40 });
  const { stdout } = await python('print(json.dumps(P.merged(x)))', [a, b]);
  const g = JSON.parse(stdout) as Record<string, number | number[]>;
  t.is(g['downBytes'], 300_000);
  t.is(g['segStarted'], 3);
  t.deepEqual(g['downSizeHist'], [0, 0, 10, 10]);
  t.is(g['downMeanSize'], 1500);
  t.deepEqual(g['segAgoMs'], [500, 1000, 4000, 5000], 'newest first, of both rings');
  t.deepEqual(g['segBytes'], [20_000, 60_000, 21_000, 80_000]);
  t.is(g['segMeanDown'], (70_000 * 2 + 20_000) / 3);
  t.deepEqual([g['segLastDown'], g['segLastMs']], [20_000, 40], 'the last segment is the newest connection\'s');
  t.is(g['ageS'], 20);
  // b began 0.5 s after a: its first end, 200 ms in, is 700 ms after a's first packet
  t.deepEqual(g['segEndMs'], [300, 700, 900]);
  const { stdout: one } = await python('print(json.dumps(P.merged(x) == x[0]))', [a]);
  t.is(one.trim(), 'true', 'one connection is its own record');
});
