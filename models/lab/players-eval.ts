/**
 * How a model does on the lab's real-player sessions (lab:collect --players …): every window
 * of every recorded connection through the model, in the runner's order (it keeps state per
 * flow), scored against the rendered-frame ground truth as train.py scores (windows with at
 * least MIN_PLAYING_S played). Two views of a session's connections: every one, and per window
 * only the one that carried the most downstream bytes (what a router that picks "the video
 * flow" would answer with). The startup answer is the model's first startupMs on that flow.
 *
 *   npm run lab:players-eval -- --data DIR [--model models/video-quality.js]
 *
 * Writes DIR/players-eval.json and prints it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../../builder/util/atomic.js';
import { projectPath } from '../../builder/util/paths.js';
import { referenceModel } from '../../builder/vrouter/reference-model.js';
import { LADDER } from './ladder.mjs';

const MIN_PLAYING_S = 5;

interface Session { id: number; playerName?: string; transport?: string; segS: number; startupS: number | null }
interface Window { session: number; window: number; flow?: number; features: Record<string, number>; label: { played: number | null; playingS: number } }
interface Scored { session: Session; right: boolean; main: boolean }

// A scripted session's windows are its one video flow's and carry no id: 1, as the runner numbers
// its first flow (a model keeps no state for id 0, so every window would be its flow's first).
const flowOf = (w: Window): number => w.flow ?? 1;

const lines = async <T>(file: string): Promise<T[]> => (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);

export async function evaluatePlayers(dir: string, modelFile: string) {
  const source = await readFile(modelFile, 'utf8');
  const sessions = new Map((await lines<Session>(path.join(dir, 'lab-sessions.jsonl'))).map((s) => [s.id, s]));
  const windows = await lines<Window>(path.join(dir, 'lab-windows.jsonl'));
  const scored: Scored[] = [];
  const startup: { session: Session; errS: number }[] = [];
  for (const session of sessions.values()) {
    const predict = referenceModel(source); // a fresh model per session: its flow ids start again
    const ws = windows.filter((w) => w.session === session.id).sort((a, b) => a.window - b.window || flowOf(a) - flowOf(b));
    // runner window -> the flow with the most downstream bytes in it
    const most = new Map<number, { flow: number; bytes: number }>();
    for (const w of ws) {
      const bytes = w.features['downBytes'] ?? 0;
      if (bytes > (most.get(w.window)?.bytes ?? -1)) most.set(w.window, { flow: flowOf(w), bytes });
    }
    let startupAnswered = false;
    for (const w of ws) {
      const out = predict(w.features, { id: flowOf(w) }) as { resolution?: string; startupMs?: number } | null;
      const isMain = most.get(w.window)?.flow === flowOf(w);
      if (isMain && !startupAnswered && typeof out?.startupMs === 'number' && session.startupS !== null) {
        startup.push({ session, errS: Math.abs(out.startupMs / 1000 - session.startupS) });
        startupAnswered = true;
      }
      if (w.label.played === null || w.label.playingS < MIN_PLAYING_S || !out?.resolution) continue;
      scored.push({ session, right: out.resolution === LADDER[w.label.played]!.name, main: isMain });
    }
  }
  const acc = (xs: Scored[]) => ({ windows: xs.length, sessions: new Set(xs.map((x) => x.session.id)).size, accuracy: xs.length ? Number((xs.filter((x) => x.right).length / xs.length).toFixed(4)) : null });
  const by = (key: (s: Session) => string) => {
    const groups = [...new Set(scored.map((x) => key(x.session)))].sort();
    return Object.fromEntries(groups.map((g) => [g, { all: acc(scored.filter((x) => key(x.session) === g)), main: acc(scored.filter((x) => x.main && key(x.session) === g)) }]));
  };
  const mae = (xs: typeof startup) => (xs.length ? Number((xs.reduce((a, x) => a + x.errS, 0) / xs.length).toFixed(3)) : null);
  const players = [...new Set([...sessions.values()].map((s) => s.playerName ?? 'scripted'))].sort();
  return {
    model: path.relative(projectPath(), modelFile),
    minPlayingS: MIN_PLAYING_S,
    all: { all: acc(scored), main: acc(scored.filter((x) => x.main)) },
    player: by((s) => s.playerName ?? 'scripted'),
    transport: by((s) => `${s.playerName ?? 'scripted'} ${s.transport ?? 'http1.1'}`),
    segmentS: by((s) => `${s.playerName ?? 'scripted'} ${s.segS} s`),
    startupMaeS: Object.fromEntries(players.map((p) => [p, { sessions: startup.filter((x) => (x.session.playerName ?? 'scripted') === p).length, maeS: mae(startup.filter((x) => (x.session.playerName ?? 'scripted') === p)) }])),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { data: { type: 'string' }, model: { type: 'string', default: projectPath('models', 'video-quality.js') } } });
  if (!values.data) {
    process.stderr.write('lab:players-eval: give --data DIR (a lab:collect --players output)\n');
    process.exit(2);
  }
  const r = await evaluatePlayers(values.data, values.model!);
  await writeFileAtomic(path.join(values.data, 'players-eval.json'), `${JSON.stringify(r, null, 1)}\n`);
  process.stdout.write(`${JSON.stringify(r, null, 1)}\n`);
}
