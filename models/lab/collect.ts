/**
 * The labelled traffic lab: video sessions through a shaped router, features from the real BPF
 * programs and fwrunner --record on the router's LAN port, ground truth from the player.
 *
 *   npm run lab:collect -- --sessions 48 --parallel 4 --seconds 80 [--out models/data] [--seed 1] [--first-id 0]
 *
 * Each session has four network namespaces: client -- router -- line -- server. The line end at
 * the provider shapes the downstream with tbf following a trace; the router forwards, drops
 * packets at random on its WAN ingress with a BPF filter for lossy traces (this kernel has no
 * netem), and runs a host-built fwrunner (same sources as the routers') with the bpfel object.
 * Needs root. Writes <out>/lab-sessions.jsonl and <out>/lab-windows.jsonl once every session
 * is done; SIGINT or SIGTERM stops the sessions, removes their namespaces and writes nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Netns, sh } from '../../builder/lab/netns.js';
import { writeFileAtomic } from '../../builder/util/atomic.js';
import { projectPath } from '../../builder/util/paths.js';
import { buildBpfTools } from '../../test/helpers/bpf.js';
import { LADDER } from './ladder.mjs';
import { makeTrace, rng, TRACE_KINDS, type Trace } from './traces.js';

const WINDOW_S = 10;
const PREFIX = 'fwml';

interface PlayerLog {
  startMs: number;
  endMs: number;
  segS: number;
  videoPort: number;
  startupS: number | null;
  segments: { k: number; rung: number; bytes: number; reqMs: number; arriveMs: number; playStartMs: number; playEndMs: number }[];
}

export interface SessionSpec {
  id: number;
  seed: number;
  seconds: number;
  segS: number;
  trace: Trace;
  background: 'none' | 'web' | 'bulk';
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
  const watchable = Math.max(0, to - Math.max(from, startMs));
  return {
    played: top(played),
    fetched: top(fetched),
    kbps: playingMs ? Math.round(kbitPlayed / playingMs) : null,
    playingS: playingMs / 1000,
    stallS: Math.max(0, watchable - playingMs) / 1000,
  };
}

/** Every process the sessions started and that still runs: what a signal must stop. */
const live = new Set<ChildProcess>();

/** A process and its stdout once it ends (SIGTERM counts as a normal end); `keep: false` drops stdout. */
function run(cmd: string, args: string[], keep = true): { child: ChildProcess; out: Promise<string> } {
  const child = spawn(cmd, args, { stdio: ['ignore', keep ? 'pipe' : 'ignore', 'pipe'] });
  live.add(child);
  child.on('close', () => live.delete(child));
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return {
    child,
    out: new Promise((resolve, reject) =>
      child.on('close', (code, signal) => (code === 0 || signal === 'SIGTERM' ? resolve(out) : reject(new Error(`${cmd} ${args.slice(0, 4).join(' ')}: exit ${code}: ${err.slice(-800)}`)))),
    ),
  };
}

async function session(spec: SessionSpec, slot: number, tools: { runner: string; object: string }, work: string) {
  const n = (r: string) => `${PREFIX}${slot}${r}`;
  const [c, r, i, s] = (await Promise.all(['c', 'r', 'i', 's'].map((x) => Netns.create(n(x))))) as [Netns, Netns, Netns, Netns];
  const children: ChildProcess[] = [];
  try {
    const lanNet = `10.77.${slot}`;
    const wanNet = `10.78.${slot}`;
    const srvNet = `10.79.${slot}`;
    await sh('ip', ['link', 'add', n('c0'), 'netns', c.name, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', r.name]);
    await sh('ip', ['link', 'add', 'line0', 'netns', i.name, 'type', 'veth', 'peer', 'name', 'wan0', 'netns', r.name]);
    await sh('ip', ['link', 'add', n('s0'), 'netns', s.name, 'type', 'veth', 'peer', 'name', 'core0', 'netns', i.name]);
    const up = async (ns: Netns, dev: string, addr: string) => {
      await ns.ip('addr', 'add', addr, 'dev', dev);
      await ns.ip('link', 'set', dev, 'up');
      // one frame per packet, as on a router's wire: no segmentation offloads on the veths
      await ns.exec('ethtool', ['-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    };
    await up(c, n('c0'), `${lanNet}.2/24`);
    await up(r, 'lan0', `${lanNet}.1/24`);
    await up(r, 'wan0', `${wanNet}.1/24`);
    await up(i, 'line0', `${wanNet}.2/24`);
    await up(i, 'core0', `${srvNet}.1/24`);
    await up(s, n('s0'), `${srvNet}.2/24`);
    await c.ip('route', 'add', 'default', 'via', `${lanNet}.1`);
    await r.ip('route', 'add', 'default', 'via', `${wanNet}.2`);
    await i.ip('route', 'add', `${lanNet}.0/24`, 'via', `${wanNet}.1`);
    await s.ip('route', 'add', 'default', 'via', `${srvNet}.1`);
    for (const ns of [r, i]) await ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // The downstream bottleneck is the access line, before the router as in a home: tbf on the
    // line's end at the provider, its queue up to 300 ms (no netem in this kernel). The router's
    // hooks then see packets as they leave that queue, when the client gets them.
    const tbf = (verb: string, kbit: number) =>
      i.exec('tc', ['qdisc', verb, 'dev', 'line0', 'root', 'handle', '1:', 'tbf', 'rate', `${kbit}kbit`, 'burst', '16kb', 'latency', '300ms']);
    await tbf('add', spec.trace.steps[0]!.kbit);
    if (spec.trace.lossPpm > 0) {
      // random loss before the router, so the LAN side sees the resends but not the lost copies
      await r.exec('tc', ['qdisc', 'add', 'dev', 'wan0', 'clsact']);
      await r.exec('tc', ['filter', 'add', 'dev', 'wan0', 'ingress', 'bpf', 'da', 'obj', path.join(path.dirname(tools.object), `lab_loss_${spec.trace.lossPpm}.bpf.o`), 'sec', 'tc']);
    }

    const record = path.join(work, `session-${spec.id}.records.jsonl`);
    const runner = run('ip', ['netns', 'exec', r.name, tools.runner, 'watch', '--lan', 'lan0', '--window', String(WINDOW_S), '--model', 'none',
      '--record', record, '--pin-dir', 'none', '--object', tools.object, '--output', '/dev/null'], false);
    children.push(runner.child);
    const server = run('ip', ['netns', 'exec', s.name, process.execPath, projectPath('models', 'lab', 'video-server.mjs'), `${srvNet}.2`, '8080']);
    children.push(server.child);
    await new Promise((res) => setTimeout(res, 1500)); // the runner attached, the server listening

    const player = run('ip', ['netns', 'exec', c.name, process.execPath, projectPath('models', 'lab', 'player.mjs'),
      JSON.stringify({ server: `${srvNet}.2:8080`, seconds: spec.seconds, segS: spec.segS, seed: spec.seed, background: spec.background })]);
    children.push(player.child);
    const t0 = Date.now();
    let stop = false;
    const shaping = (async () => {
      for (const step of spec.trace.steps.slice(1)) {
        await new Promise((res) => setTimeout(res, Math.max(0, t0 + step.atS * 1000 - Date.now())));
        if (stop) return;
        await tbf('change', step.kbit);
      }
    })();
    const log = JSON.parse(await player.out) as PlayerLog;
    stop = true;
    await shaping;
    // one more window boundary, so the last window the player was in is written
    await new Promise((res) => setTimeout(res, WINDOW_S * 1000 + 500));
    runner.child.kill('SIGTERM');
    server.child.kill('SIGTERM');
    await Promise.all([runner.out, server.out]);

    const windows = [];
    let firstSeen = true;
    for (const line of (await readFile(record, 'utf8')).split('\n').filter(Boolean)) {
      const rec = JSON.parse(line) as { window: number; time: number; flow: { proto: number; clientPort: number; serverPort: number }; features: Record<string, unknown> };
      if (rec.flow.proto !== 6 || rec.flow.clientPort !== log.videoPort || rec.flow.serverPort !== 8080) continue;
      // windows that start after the session ended hold only the connection's teardown
      if ((rec.time - WINDOW_S) * 1000 >= log.endMs) continue;
      const label = labelWindow(log, rec.time * 1000);
      windows.push({ session: spec.id, window: rec.window, time: rec.time, first: firstSeen, features: rec.features, label });
      firstSeen = false;
    }
    return { session: { ...spec, startupS: log.startupS, segments: log.segments.length, windows: windows.length }, windows };
  } finally {
    for (const ch of children) if (ch.exitCode === null) ch.kill('SIGKILL');
    await Promise.all([c, r, i, s].map((x) => x.remove()));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sessions: { type: 'string', default: '48' },
      parallel: { type: 'string', default: '4' },
      seconds: { type: 'string', default: '80' },
      seed: { type: 'string', default: '1' },
      // a second batch appends to the first: its sessions are numbered after it
      'first-id': { type: 'string', default: '0' },
      out: { type: 'string', default: projectPath('models', 'data') },
    },
  });
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces, tc, BPF)');
  for (const ns of await Netns.list(PREFIX)) await sh('ip', ['netns', 'del', ns]);
  const total = Number(values.sessions);
  const parallel = Number(values.parallel);
  const seconds = Number(values.seconds);
  const r = rng(Number(values.seed));
  const firstId = Number(values['first-id']);
  const specs: SessionSpec[] = Array.from({ length: total }, (_, i) => {
    const id = firstId + i;
    const seed = Math.floor(r() * 1e9);
    return {
      id,
      seed,
      seconds,
      segS: [2, 4, 6][id % 3]!,
      trace: makeTrace(TRACE_KINDS[Math.floor(id / 3) % TRACE_KINDS.length]!, seed, seconds),
      background: (['none', 'none', 'web', 'bulk'] as const)[Math.floor(r() * 4)]!,
    };
  });
  // Ctrl-C at any point: the tools build removes its container, the sessions' processes and
  // namespaces go, nothing is written
  const stop = new AbortController();
  const building = buildBpfTools('bpfel', stop.signal);
  let work: string | undefined;
  const abort = (signal: NodeJS.Signals) => {
    process.stderr.write(`lab: ${signal}: stopping the sessions and removing their namespaces; no data written\n`);
    // the build and the sessions fail as they are stopped: expected now, the exit below is what counts
    process.on('unhandledRejection', () => {});
    process.on('uncaughtException', () => {});
    stop.abort();
    for (const ch of live) ch.kill('SIGKILL');
    void (async () => {
      const tools = await building.catch(() => undefined);
      for (const ns of await Netns.list(PREFIX)) await sh('ip', ['netns', 'del', ns]).catch(() => {});
      if (work) await rm(work, { recursive: true, force: true });
      if (tools) await rm(tools.dir, { recursive: true, force: true });
      process.exit(signal === 'SIGINT' ? 130 : 143);
    })();
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  process.stderr.write(`building the host runner and the bpfel object in the toolchain image…\n`);
  const tools = await building;
  work = await mkdtemp(path.join(tmpdir(), 'fwbuild-lab-'));
  const sessions: unknown[] = [];
  const windows: unknown[] = [];
  try {
    let next = 0;
    const worker = async (slot: number) => {
      while (next < specs.length) {
        const spec = specs[next++]!;
        const t = Date.now();
        const res = await session(spec, slot, tools, work);
        sessions.push(res.session);
        windows.push(...res.windows);
        process.stderr.write(`session ${spec.id} (${spec.trace.kind}, ${spec.segS} s segments, ${spec.background}): ${res.windows.length} windows, startup ${res.session.startupS} s, ${((Date.now() - t) / 1000).toFixed(0)} s\n`);
      }
    };
    await Promise.all(Array.from({ length: parallel }, (_, i) => worker(i)));
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(tools.dir, { recursive: true, force: true });
  }
  const byId = (a: unknown, b: unknown) => (a as { id?: number; session?: number }).id! - (b as { id: number }).id;
  sessions.sort(byId);
  windows.sort((a, b) => {
    const x = a as { session: number; window: number };
    const y = b as { session: number; window: number };
    return x.session - y.session || x.window - y.window;
  });
  await mkdir(values.out!, { recursive: true });
  await writeFileAtomic(path.join(values.out!, 'lab-sessions.jsonl'), sessions.map((s) => JSON.stringify(s)).join('\n') + '\n');
  await writeFileAtomic(path.join(values.out!, 'lab-windows.jsonl'), windows.map((w) => JSON.stringify(w)).join('\n') + '\n');
  process.stderr.write(`${sessions.length} sessions, ${windows.length} windows -> ${values.out}\n`);
}

await main();
