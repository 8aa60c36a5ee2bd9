/**
 * Ground truth for the lab: each window labelled from the scripted player's log, and the answers
 * of either placement of the model (QuickJS on the runner's windows, the kernel on its own)
 * labelled the same way. Pure functions, apart from the lab (collect.ts) so they can be tested.
 */
import { LADDER, rungOfHeight } from './ladder.mjs';
import type { GroundTruth } from './players/types.js';

/** The runner's window in the lab, and train.py's (s). */
export const WINDOW_S = 10;

/** The scripted player's log of one session: its schedule is the ground truth. */
export interface PlayerLog {
  startMs: number;
  endMs: number;
  segS: number;
  videoPort: number;
  startupS: number | null;
  segments: { k: number; rung: number; bytes: number; reqMs: number; arriveMs: number; playStartMs: number; playEndMs: number }[];
  /** a viewer's pause or seek until playback went on: neither played nor a stall */
  held?: { fromMs: number; toMs: number }[];
}

/** Ground truth of one runner window [time - 10 s, time] from the player's schedule. */
export function labelWindow(p: PlayerLog, endMs: number, windowS = WINDOW_S) {
  const from = endMs - windowS * 1000;
  const to = Math.min(endMs, p.endMs);
  const played = new Map<number, number>();
  const fetched = new Map<number, number>();
  let playingMs = 0;
  let kbitPlayed = 0;
  for (const s of p.segments) {
    const o = Math.max(0, Math.min(s.playEndMs, to) - Math.max(s.playStartMs, from));
    if (o > 0) {
      played.set(s.rung, (played.get(s.rung) ?? 0) + o);
      playingMs += o;
      kbitPlayed += o * LADDER[s.rung]!.kbps;
    }
    if (s.arriveMs > from && s.arriveMs <= endMs) fetched.set(s.rung, (fetched.get(s.rung) ?? 0) + s.bytes);
  }
  const top = (m: Map<number, number>): number | null => ([...m].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]?.[0] ?? null);
  const startMs = p.segments[0]?.playStartMs ?? Infinity;
  const lo = Math.max(from, startMs);
  const heldMs = (p.held ?? []).reduce((a, h) => a + Math.max(0, Math.min(h.toMs, to) - Math.max(h.fromMs, lo)), 0);
  const watchable = Math.max(0, to - lo - heldMs);
  return {
    played: top(played),
    fetched: top(fetched),
    kbps: playingMs ? Math.round(kbitPlayed / playingMs) : null,
    playingS: playingMs / 1000,
    stallS: Math.max(0, watchable - playingMs) / 1000,
  };
}

/** One answer of either placement, labelled like the training windows. */
export interface LabAnswer {
  session: number;
  placement: 'kernel' | 'quickjs';
  /** the runner's window number, or the kernel's window count (1 = the flow's first window) */
  window: number;
  endMs: number;
  predicted: string;
  label: ReturnType<typeof labelWindow>;
}

type Interval = { fromMs: number; toMs: number };

/**
 * From the media element's events, after playback began: stalls (waiting until the next
 * playing) and what the viewer held (pause or seeking until the next playing). A player that
 * waits for data after a seek has not stalled: the viewer asked for the wait.
 */
export function interruptionsOf(events: { ms: number; type: string }[], endMs: number): { stalls: Interval[]; held: Interval[] } {
  const stalls: Interval[] = [];
  const held: Interval[] = [];
  let started = false;
  let stall: number | null = null;
  let hold: number | null = null;
  for (const e of events) {
    if (e.type === 'playing') {
      if (stall !== null) stalls.push({ fromMs: stall, toMs: e.ms });
      if (hold !== null) held.push({ fromMs: hold, toMs: e.ms });
      started = true;
      stall = hold = null;
    } else if (!started) {
      continue;
    } else if ((e.type === 'pause' || e.type === 'seeking') && hold === null) {
      // a stall the viewer's action interrupts ends there: from then on the viewer holds it
      if (stall !== null) stalls.push({ fromMs: stall, toMs: e.ms });
      stall = null;
      hold = e.ms;
    } else if (e.type === 'waiting' && stall === null && hold === null) stall = e.ms;
  }
  if (stall !== null) stalls.push({ fromMs: stall, toMs: endMs });
  if (hold !== null) held.push({ fromMs: hold, toMs: endMs });
  return { stalls, held };
}

/**
 * A real player's ground truth as the log labelWindow reads: one played piece per stretch of
 * the same rendered frame height between stalls, its rung named by that height. Nothing is
 * marked fetched (the player's downloads are the server log's), so `fetched` labels are null.
 */
export function truthLog(gt: GroundTruth, segS: number): PlayerLog {
  const segments: PlayerLog['segments'] = [];
  const off = [...gt.stalls, ...gt.held];
  const cut = (from: number, to: number, rung: number) => {
    // the stalls and the viewer's pauses and seeks inside [from, to) are not played
    let at = from;
    for (const s of off.filter((x) => x.toMs > from && x.fromMs < to).sort((a, b) => a.fromMs - b.fromMs)) {
      if (s.fromMs > at) segments.push({ k: segments.length, rung, bytes: 0, reqMs: 0, arriveMs: 0, playStartMs: at, playEndMs: s.fromMs });
      at = Math.max(at, s.toMs);
    }
    if (to > at) segments.push({ k: segments.length, rung, bytes: 0, reqMs: 0, arriveMs: 0, playStartMs: at, playEndMs: to });
  };
  gt.rendered.forEach((r, i) => cut(r.ms, gt.rendered[i + 1]?.ms ?? gt.endMs, rungOfHeight(r.height)));
  return { startMs: gt.startMs, endMs: gt.endMs, segS, videoPort: 0, startupS: gt.startupS, segments, ...(gt.held.length ? { held: gt.held } : {}) };
}

/** The fields of a runner output line that labelling reads. */
export interface OutputLine {
  window: number;
  time: number;
  flow: { proto: number; clientPort: number; serverPort: number };
  features: { ageS?: number } | null;
  prediction?: { resolution?: string } | null;
  kernel?: { resolution: string; windows: number };
}

/**
 * The answers of one session's video flow: the QuickJS model's per runner window (ending at the
 * line's time), and the kernel's per kernel window. A kernel window k ends at the flow's first
 * packet + k x the window (docs/in-kernel-model.md), and the first output line that counts k
 * windows carries its answer. The map holds only the newest answer: when the count moves by more
 * than one between two lines, the windows in between were answered and overwritten unread, and
 * only the newest is labelled.
 */
export function labAnswers(lines: OutputLine[], log: PlayerLog, sessionId: number, windowS = WINDOW_S): LabAnswer[] {
  const out: LabAnswer[] = [];
  let firstMs: number | undefined;
  let seen = 0;
  for (const l of lines) {
    if (l.flow.proto !== 6 || l.flow.clientPort !== log.videoPort || l.flow.serverPort !== 8080) continue;
    if ((l.time - windowS) * 1000 >= log.endMs) continue;
    const endMs = l.time * 1000;
    if (firstMs === undefined && typeof l.features?.ageS === 'number') firstMs = endMs - l.features.ageS * 1000;
    if (l.prediction?.resolution) {
      out.push({ session: sessionId, placement: 'quickjs', window: l.window, endMs, predicted: l.prediction.resolution, label: labelWindow(log, endMs, windowS) });
    }
    const k = l.kernel?.windows ?? 0;
    if (k > seen && firstMs !== undefined) {
      const end = firstMs + k * windowS * 1000;
      if ((end - windowS * 1000) < log.endMs) {
        out.push({ session: sessionId, placement: 'kernel', window: k, endMs: end, predicted: l.kernel!.resolution, label: labelWindow(log, end, windowS) });
      }
    }
    if (k > seen) seen = k;
  }
  return out;
}

/** Accuracy of each placement over answers whose window played at least `minPlayingS` (train.py's MIN_PLAYING_S). */
export function answerAccuracy(answers: LabAnswer[], minPlayingS = 5) {
  const of = (placement: LabAnswer['placement']) => {
    const a = answers.filter((x) => x.placement === placement && x.label.played !== null && x.label.playingS >= minPlayingS);
    const right = a.filter((x) => LADDER[x.label.played!]!.name === x.predicted).length;
    return { windows: a.length, sessions: new Set(a.map((x) => x.session)).size, accuracy: a.length ? right / a.length : null };
  };
  return { kernel: of('kernel'), quickjs: of('quickjs'), minPlayingS };
}
