/**
 * The lab's labelling (models/lab/answers.ts): a window's ground truth from the player's schedule,
 * and each placement's answers matched to the windows they describe.
 */
import test from 'ava';
import { answerAccuracy, interruptionsOf, labAnswers, labelWindow, truthLog, type OutputLine, type PlayerLog } from '../../models/lab/answers.js';
import type { GroundTruth } from '../../models/lab/players/types.js';

const T0 = 1_700_000_000_000;

/** 4 s segments played back to back from T0 + 2 s: rung 1 for the first 20 s, then rung 3. */
function player(): PlayerLog {
  const segments = Array.from({ length: 15 }, (_, k) => ({
    k,
    rung: k < 5 ? 1 : 3,
    bytes: 100_000 * (k + 1),
    reqMs: T0 + k * 4000,
    arriveMs: T0 + k * 4000 + 1000,
    playStartMs: T0 + 2000 + k * 4000,
    playEndMs: T0 + 6000 + k * 4000,
  }));
  return { startMs: T0, endMs: T0 + 62_000, segS: 4, videoPort: 40000, startupS: 2, segments };
}

test('a window is labelled with the rung played longest in it, its playing time and its stall', (t) => {
  const p = player();
  const first = labelWindow(p, T0 + 10_000);
  t.is(first.played, 1);
  t.is(first.playingS, 8);
  // the 2 s before the first segment played are startup, not a stall
  t.is(first.stallS, 0);
  t.is(first.kbps, 750);
  // 20..30 s: 2 s of rung 1 and 8 s of rung 3
  const mixed = labelWindow(p, T0 + 30_000);
  t.is(mixed.played, 3);
  t.is(mixed.playingS, 10);
  // after the last segment ends (T0 + 62 s) nothing plays
  t.is(labelWindow(p, T0 + 75_000).played, null);
});

test('a window with a gap between segments counts the gap as a stall', (t) => {
  const p = player();
  p.segments = p.segments.filter((s) => s.k !== 3);
  const w = labelWindow(p, T0 + 20_000);
  t.is(w.playingS, 6);
  t.is(w.stallS, 4);
});

const line = (window: number, timeS: number, o: Partial<OutputLine> = {}): OutputLine => ({
  window,
  time: (T0 + timeS * 1000) / 1000,
  flow: { proto: 6, clientPort: 40000, serverPort: 8080 },
  features: { ageS: timeS - 1 },
  prediction: { resolution: '360p' },
  ...o,
});

test('QuickJS answers are labelled on the runner windows, the kernel answers on the flow windows from its first packet', (t) => {
  const p = player();
  const lines = [
    line(1, 5, { kernel: undefined }),
    line(2, 15, { kernel: { resolution: '360p', windows: 1 } }),
    line(3, 25, { kernel: { resolution: '720p', windows: 2 } }),
    // another flow of the same client is not the video's
    line(3, 25, { flow: { proto: 6, clientPort: 40001, serverPort: 8080 }, prediction: { resolution: '1080p' } }),
    line(4, 35, { kernel: { resolution: '720p', windows: 3 } }),
  ];
  const a = labAnswers(lines, p, 7);
  const q = a.filter((x) => x.placement === 'quickjs');
  t.deepEqual(q.map((x) => x.window), [1, 2, 3, 4]);
  t.deepEqual(q.map((x) => x.endMs - T0), [5000, 15000, 25000, 35000]);
  const k = a.filter((x) => x.placement === 'kernel');
  // the flow's first packet is T0 + 1 s (the line at 5 s says the flow is 4 s old)
  t.deepEqual(k.map((x) => [x.window, x.endMs - T0, x.predicted]), [[1, 11000, '360p'], [2, 21000, '720p'], [3, 31000, '720p']]);
  t.deepEqual(k.map((x) => x.label.played), [1, 1, 3]);
  t.true(a.every((x) => x.session === 7));
});

test('a kernel count that stays is one answer; a count that jumps keeps the newest answer only', (t) => {
  const p = player();
  const lines = [
    line(1, 5, { kernel: { resolution: '360p', windows: 0 } }),
    line(2, 15, { kernel: { resolution: '360p', windows: 1 } }),
    line(3, 25, { kernel: { resolution: '360p', windows: 1 } }),
    line(4, 35, { kernel: { resolution: '720p', windows: 3 } }),
  ];
  const k = labAnswers(lines, p, 1).filter((x) => x.placement === 'kernel');
  t.deepEqual(k.map((x) => [x.window, x.endMs - T0]), [[1, 11000], [3, 31000]]);
});

test('windows that start after the player stopped are not labelled', (t) => {
  const p = player();
  const lines = [line(7, 70, { kernel: { resolution: '720p', windows: 7 } }), line(8, 80, { kernel: { resolution: '720p', windows: 8 } })];
  const a = labAnswers(lines, p, 1);
  // 60..70 s starts before the end at 62 s; 70..80 does not; kernel window 7 is 61..71 s
  t.deepEqual(a.map((x) => [x.placement, x.window]), [['quickjs', 7], ['kernel', 7]]);
});

test('accuracy counts each placement apart, over windows that played long enough', (t) => {
  const p = player();
  const lines = [
    line(1, 10, { prediction: { resolution: '360p' }, kernel: { resolution: '240p', windows: 1 } }),
    line(2, 20, { prediction: { resolution: '360p' }, kernel: { resolution: '360p', windows: 2 } }),
    line(3, 30, { prediction: { resolution: '1080p' }, kernel: { resolution: '720p', windows: 3 } }),
  ];
  const acc = answerAccuracy(labAnswers(lines, p, 1).concat(labAnswers(lines, p, 2)));
  // QuickJS: 10 s window played 8 s of rung 1 (right), 20 s all rung 1 (right), 30 s rung 3 (wrong)
  t.deepEqual(acc.quickjs, { windows: 6, sessions: 2, accuracy: 4 / 6 });
  // kernel windows end at 11, 21, 31 s: rung 1 (wrong), rung 1 (right), rung 3 (right)
  t.deepEqual(acc.kernel, { windows: 6, sessions: 2, accuracy: 4 / 6 });
  // a threshold above every window's playing time leaves nothing to count
  t.deepEqual(answerAccuracy(labAnswers(lines, p, 1), 11).kernel, { windows: 0, sessions: 0, accuracy: null });
});

test('a real player\'s stalls are waiting until the next playing, after playback began; one still open ends with the session', (t) => {
  const ev = (ms: number, type: string) => ({ ms: T0 + ms, type });
  // the waiting before the first playing is startup, not a stall; a second waiting while stalled adds nothing
  const events = [ev(100, 'waiting'), ev(1500, 'playing'), ev(9000, 'waiting'), ev(9500, 'waiting'), ev(11000, 'playing'), ev(30000, 'waiting')];
  t.deepEqual(interruptionsOf(events, T0 + 32000).stalls, [{ fromMs: T0 + 9000, toMs: T0 + 11000 }, { fromMs: T0 + 30000, toMs: T0 + 32000 }]);
  t.deepEqual(interruptionsOf([ev(100, 'waiting')], T0 + 5000).stalls, [], 'never played: no stall, the startup never ended');
});

test('a real player\'s rendered heights label windows: each height\'s stretch is played at its rung, stalls are not', (t) => {
  const gt: GroundTruth = {
    player: 'test',
    startMs: T0,
    endMs: T0 + 40_000,
    startupS: 2,
    // 360p from 2 s, 1080p from 12 s, 720p (scaled, 718 lines) from 25 s
    rendered: [{ ms: T0 + 2000, height: 360 }, { ms: T0 + 12_000, height: 1080 }, { ms: T0 + 25_000, height: 718 }],
    stalls: [{ fromMs: T0 + 14_000, toMs: T0 + 20_000 }],
    held: [],
    own: [],
    clock: [],
  };
  const log = truthLog(gt, 4);
  t.deepEqual(log.segments.map((s) => [s.rung, s.playStartMs - T0, s.playEndMs - T0]), [[1, 2000, 12_000], [4, 12_000, 14_000], [4, 20_000, 25_000], [3, 25_000, 40_000]]);
  t.is(log.startupS, 2);
  const w = labelWindow(log, T0 + 20_000);
  // 10-20 s: 360p for 2 s, 1080p for 2 s, then 6 s of stall
  t.is(w.played, 4, 'a tie goes to the higher rung');
  t.is(w.playingS, 4);
  t.is(w.stallS, 6);
  t.is(w.fetched, null, 'a real player\'s downloads are not in its log');
  t.is(labelWindow(log, T0 + 40_000).played, 3);
});

test('a viewer\'s pause or seek is held until the next playing: neither played nor a stall, and the wait for data after a seek is no stall', (t) => {
  const ev = (ms: number, type: string) => ({ ms: T0 + ms, type });
  const events = [
    ev(1000, 'playing'),
    ev(5000, 'pause'), ev(9000, 'playing'), // a pause of 4 s
    ev(12_000, 'waiting'), ev(13_000, 'seeking'), ev(13_100, 'waiting'), ev(13_900, 'seeked'), ev(15_000, 'playing'), // a stall the viewer cut short by seeking
    ev(20_000, 'waiting'), ev(21_000, 'playing'), // a stall
    ev(30_000, 'pause'), // paused to the end
  ];
  t.deepEqual(interruptionsOf(events, T0 + 40_000), {
    stalls: [{ fromMs: T0 + 12_000, toMs: T0 + 13_000 }, { fromMs: T0 + 20_000, toMs: T0 + 21_000 }],
    held: [{ fromMs: T0 + 5000, toMs: T0 + 9000 }, { fromMs: T0 + 13_000, toMs: T0 + 15_000 }, { fromMs: T0 + 30_000, toMs: T0 + 40_000 }],
  });
  t.deepEqual(interruptionsOf([ev(100, 'pause'), ev(500, 'waiting')], T0 + 5000), { stalls: [], held: [] }, 'before playback began nothing is held or stalled');

  const { stalls, held } = interruptionsOf(events, T0 + 40_000);
  const log = truthLog({ player: 'test', startMs: T0, endMs: T0 + 40_000, startupS: 1, rendered: [{ ms: T0 + 1000, height: 480 }], stalls, held, own: [], clock: [] }, 2);
  t.deepEqual(log.held, held);
  const w = labelWindow(log, T0 + 10_000);
  // 0-10 s: startup to 1 s, played 1-5 and 9-10 s, held 5-9 s
  t.is(w.playingS, 5);
  t.is(w.stallS, 0, 'a pause is not a stall');
  const w2 = labelWindow(log, T0 + 20_000);
  // 10-20 s: played 10-12, stalled 12-13, held 13-15, played 15-20
  t.is(w2.playingS, 7);
  t.is(w2.stallS, 1);
  t.is(labelWindow(log, T0 + 40_000).playingS, 0, 'paused for the whole window');
});
