import test from 'ava';
import { viewerAction } from '../../models/lab/viewer.js';

test('a viewer pauses in one session in six and seeks in another, from the seed alone, inside the session', (t) => {
  const seeds = Array.from({ length: 600 }, (_, i) => i * 7919 + 13);
  const actions = seeds.map((s) => viewerAction(s, 80));
  t.deepEqual(actions, seeds.map((s) => viewerAction(s, 80)), 'the same seed, the same action');
  t.is(actions.filter((a) => a?.kind === 'pause').length, 100);
  t.is(actions.filter((a) => a?.kind === 'seek').length, 100);
  for (const a of actions.filter((x) => x !== undefined)) {
    t.true(a.atS >= 15 && a.atS <= 34, `at ${a.atS} s`);
    t.true(a.kind === 'pause' ? a.forS >= 5 && a.forS <= 14 : a.forS >= 10 && a.forS <= 29, `${a.kind} for ${a.forS} s`);
  }
  // a short session still has its action 20 s before its end
  const short = viewerAction(6 * 1000, 30);
  t.is(short?.kind, 'pause');
  t.true(short!.atS <= 10);
});
