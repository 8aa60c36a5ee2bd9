/**
 * The labelled traffic lab: video sessions through a shaped router, features from the real BPF
 * programs and fwrunner --record on the router's LAN port, ground truth from the player.
 *
 *   npm run lab:collect -- --sessions 48 --parallel 4 --seconds 80 [--out models/data] [--seed 1] [--first-id 0]
 *   npm run lab:collect -- --sessions 48 --seed 2 --append     (adds to the sessions in --out)
 *   npm run lab:collect -- --in-kernel --sessions 48 --seed 9 --out DIR
 *   npm run lab:collect -- --players dashjs,shaka --sessions 24 --out DIR
 *
 * --players: the clients, taken in turn by session id. `scripted` is the lab's own player
 * (player.mjs, HTTP/1.1 from video-server.mjs, the training data's player). A real player
 * (players/: dash.js, Shaka in Debian's Chromium) plays the encoded ladder (media.ts) from
 * media-server.mjs over HTTPS, its sessions alternating HTTP/2 and HTTP/1.1; every connection
 * of the session is recorded, and windows are labelled from the frames it rendered.
 *
 * --in-kernel: the router runs the object with the in-kernel model and the shipped QuickJS model
 * side by side (docs/in-kernel-model.md), and each session's answers are labelled from the
 * player's log: the QuickJS model's on the runner's windows, the kernel's on its own windows
 * (the flow's first packet + k x 10 s); the player starts at a random point of the runner's
 * window, as flows do on a router. <out>/lab-answers.jsonl holds them and
 * <out>/lab-answers-summary.json the accuracy of each placement on these sessions.
 *
 * Each session has four network namespaces: client -- router -- line -- server. The line end at
 * the provider shapes the downstream with tbf following a trace; the router forwards, drops
 * packets at random on its WAN ingress with a BPF filter for lossy traces (this kernel has no
 * netem), and runs a host-built fwrunner (same sources as the routers') with the bpfel object.
 * Needs root. Writes <out>/lab-sessions.jsonl and <out>/lab-windows.jsonl once every session
 * is done (a failed one is left out); SIGINT or SIGTERM stops the sessions in progress, removes
 * their namespaces and writes the sessions completed so far.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Netns, sh } from '../../builder/vrouter/netns.js';
import { writeFileAtomic } from '../../builder/util/atomic.js';
import { projectPath } from '../../builder/util/paths.js';
import { buildBpfTools } from '../../devkit/bpf.js';
import { answerAccuracy, labAnswers, labelWindow, WINDOW_S, type LabAnswer, type OutputLine } from './answers.js';
import { mediaSet, type MediaSet } from './media.js';
import { PLAYER_NAMES, PLAYERS } from './players/index.js';
import { makeLabTls, type LabTls } from './tls.js';
import { makeTrace, rng, TRACE_KINDS, type Trace } from './traces.js';
import type { ViewerAction } from './players/types.js';
import { viewerAction } from './viewer.js';

const PREFIX = 'fwml';
/** This run's namespaces: `fwml<pid>-<slot><role>`, so a second lab leaves a running one's alone. */
const RUN = `${PREFIX}${process.pid}-`;

/** Namespaces of lab runs that are no longer running (a crash, a kill -9). */
async function staleNamespaces(): Promise<string[]> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  return (await Netns.list(PREFIX)).filter((ns) => {
    const pid = /^fwml(\d+)-/.exec(ns)?.[1];
    return pid === undefined || !alive(Number(pid));
  });
}

export interface SessionSpec {
  id: number;
  seed: number;
  seconds: number;
  segS: number;
  trace: Trace;
  background: 'none' | 'web' | 'bulk';
  /** 'scripted' (player.mjs against video-server.mjs) or a real player (players/) */
  playerName: string;
  /** a real player's transport: HTTP/2 (one connection) or HTTP/1.1 (several) */
  transport?: 'h2' | 'http1.1';
  /** the viewer's pause or seek, for a player that carries one out */
  action?: ViewerAction;
}

/** Every process the sessions started and that still runs: what a signal must stop. */
const live = new Set<ChildProcess>();
/** The players of the sessions in progress (a process, a browser): a signal aborts each. */
const playersInProgress = new Set<AbortController>();

/**
 * A process, its stdout once it ends (SIGTERM counts as a normal end; `keep: false` drops it),
 * and `ready`: the first stdout line that `until` matches, or an error if the process ends or
 * 30 s pass before one does.
 */
function run(cmd: string, args: string[], opts: { keep?: boolean; until?: RegExp } = {}): { child: ChildProcess; out: Promise<string>; ready: Promise<string> } {
  const keep = opts.keep ?? true;
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.on('close', () => live.delete(child));
  let out = '';
  let err = '';
  let partial = '';
  let seen: ((line: string) => void) | undefined;
  const ready = new Promise<string>((resolve, reject) => {
    if (!opts.until) return resolve('');
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.slice(0, 4).join(' ')}: no line matching ${opts.until} in 30 s: ${err.slice(-800)}`)), 30_000);
    seen = (line) => {
      clearTimeout(timer);
      resolve(line);
    };
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.slice(0, 4).join(' ')}: exit ${code} before a line matching ${opts.until}: ${err.slice(-800)}`));
    });
  });
  ready.catch(() => {}); // awaited by the caller; a process that ends later is not an error here
  child.stdout!.on('data', (d: Buffer) => {
    if (keep) out += d.toString();
    if (!seen) return;
    partial += d.toString();
    const line = partial.split('\n').slice(0, -1).find((l) => opts.until!.test(l));
    partial = partial.slice(partial.lastIndexOf('\n') + 1);
    if (line !== undefined) {
      seen(line);
      seen = undefined;
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string>((resolve, reject) =>
    child.on('close', (code, signal) => (code === 0 || signal === 'SIGTERM' ? resolve(out) : reject(new Error(`${cmd} ${args.slice(0, 4).join(' ')}: exit ${code}: ${err.slice(-800)}`)))),
  );
  // awaited later by the session, which then fails; a process that ends early must not crash
  // the whole run (and lose its sessions) as an unhandled rejection before that
  done.catch(() => {});
  return { child, ready, out: done };
}

/** What the router runs: the flow table alone (training data), or both models (--in-kernel). */
interface LabTools {
  runner: string;
  object: string;
  /** the QuickJS model the runner runs beside the in-kernel one; none: --model none */
  model?: string;
  /** for real players: the encoded media and the run's certificates */
  media?: MediaSet;
  tls?: LabTls;
}

/** The port of each server a player plays from (PlayerAdapter's `server`). */
const SERVER_PORT = { synthetic: 8080, media: 443 } as const;

async function session(spec: SessionSpec, slot: number, tools: LabTools, work: string) {
  // interface names (at most 15 bytes) live inside the run's own namespaces: no pid needed there
  const n = (r: string) => `${PREFIX}${slot}${r}`;
  const [c, r, i, s] = (await Promise.all(['c', 'r', 'i', 's'].map((x) => Netns.create(`${RUN}${slot}${x}`)))) as [Netns, Netns, Netns, Netns];
  const children: ChildProcess[] = [];
  // stops the player (its process, its browser) when the session ends, however it ends
  const playing = new AbortController();
  playersInProgress.add(playing);
  try {
    const lanNet = `10.77.${slot}`;
    const wanNet = `10.78.${slot}`;
    const srvNet = `10.79.${slot}`;
    await sh('ip', ['link', 'add', n('c0'), 'netns', c.name, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', r.name]);
    await sh('ip', ['link', 'add', 'line0', 'netns', i.name, 'type', 'veth', 'peer', 'name', 'wan0', 'netns', r.name]);
    await sh('ip', ['link', 'add', n('s0'), 'netns', s.name, 'type', 'veth', 'peer', 'name', 'core0', 'netns', i.name]);
    const up = async (ns: Netns, dev: string, addr: string) => {
      // IPv4 only: an IPv6 link-local address that turns valid a second or two after the link is
      // up is an address change to Chromium, which fails its page load (ERR_NETWORK_CHANGED)
      await ns.exec('sysctl', ['-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
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
    const output = tools.model ? path.join(work, `session-${spec.id}.output.jsonl`) : '/dev/null';
    const runner = run('ip', ['netns', 'exec', r.name, tools.runner, 'watch', '--lan', 'lan0', '--window', String(WINDOW_S), '--model', tools.model ?? 'none',
      '--record', record, '--pin-dir', 'none', '--object', tools.object, '--output', output,
      // one file for the whole session: at the default cap the runner moves it aside (FILE.1)
      '--output-max-kb', String(1 << 20)], { keep: false, until: /"ready":true/ });
    children.push(runner.child);
    const adapter = PLAYERS[spec.playerName]!;
    const media = adapter.server === 'media';
    const port = SERVER_PORT[adapter.server];
    const synthetic = (at: number) => run('ip', ['netns', 'exec', s.name, process.execPath, projectPath('models', 'lab', 'video-server.mjs'), `${srvNet}.2`, String(at)], { until: /"listening"/ });
    const server = media
      ? run('ip', ['netns', 'exec', s.name, process.execPath, projectPath('models', 'lab', 'media-server.mjs'),
        JSON.stringify({ host: `${srvNet}.2`, port, media: tools.media!.dir, key: tools.tls!.key, cert: tools.tls!.cert })], { until: /"listening"/ })
      : synthetic(port);
    children.push(server.child);
    // background traffic for a player that does not make its own: player.mjs without its video,
    // against the synthetic server on its own port, so its connections are not the player's
    const extra = !adapter.background && spec.background !== 'none';
    const bgServer = extra ? synthetic(SERVER_PORT.synthetic) : undefined;
    if (bgServer) children.push(bgServer.child);
    await bgServer?.ready;
    // the player starts only once the runner's programs are attached: a flow whose first
    // segments the hooks missed would have every segment time and count wrong
    await Promise.all([runner.ready, server.ready]);
    // --in-kernel: the player starts at a random point of the runner's window, as a flow does on a
    // router, where the runner's windows do not start with it (the kernel's start with the flow)
    const offsetMs = tools.model ? spec.seed % (WINDOW_S * 1000) : 0;
    await new Promise((res) => setTimeout(res, offsetMs));

    const bg = extra
      ? run('ip', ['netns', 'exec', c.name, process.execPath, projectPath('models', 'lab', 'player.mjs'),
        JSON.stringify({ server: `${srvNet}.2:${SERVER_PORT.synthetic}`, seconds: spec.seconds, segS: spec.segS, seed: spec.seed, background: spec.background, video: false })], {})
      : undefined;
    if (bg) children.push(bg.child);
    const played = adapter.play({
      netns: c.name,
      server: `${srvNet}.2:${port}`,
      manifest: media ? `/media/${tools.media!.manifests[spec.segS]![adapter.manifest ?? 'dash']}` : '',
      transport: spec.transport ?? 'http1.1',
      seconds: spec.seconds,
      segS: spec.segS,
      seed: spec.seed,
      background: spec.background,
      ...(spec.action ? { action: spec.action } : {}),
      ...(tools.tls ? { caSpki: tools.tls.caSpki } : {}),
      signal: playing.signal,
    });
    played.catch(() => {}); // awaited below: fails the session there, not the run here
    const t0 = Date.now();
    let stop = false;
    const shaping = (async () => {
      for (const step of spec.trace.steps.slice(1)) {
        await new Promise((res) => setTimeout(res, Math.max(0, t0 + step.atS * 1000 - Date.now())));
        if (stop) return;
        await tbf('change', step.kbit);
      }
    })();
    shaping.catch(() => {}); // awaited below: fails the session there, not the run here
    const { log, truth } = await played;
    stop = true;
    await shaping;
    // one more window boundary, so the last window the player was in is written
    await new Promise((res) => setTimeout(res, WINDOW_S * 1000 + 500));
    runner.child.kill('SIGTERM');
    server.child.kill('SIGTERM');
    const [, serverLog] = await Promise.all([runner.out, server.out]);

    const windows = [];
    let firstSeen = true;
    const seenFlows = new Set<number>();
    for (const line of (await readFile(record, 'utf8')).split('\n').filter(Boolean)) {
      const rec = JSON.parse(line) as { window: number; time: number; flow: { id: number; proto: number; clientPort: number; serverPort: number }; features: Record<string, unknown> };
      // the scripted player's one video connection (its log names it); every connection of a real
      // player (audio and video, on one HTTP/2 connection or several HTTP/1.1 ones)
      if (rec.flow.proto !== 6 || rec.flow.serverPort !== port || (log.videoPort && rec.flow.clientPort !== log.videoPort)) continue;
      // windows that start after the session ended hold only the connection's teardown
      if ((rec.time - WINDOW_S) * 1000 >= log.endMs) continue;
      const label = labelWindow(log, rec.time * 1000);
      const first = log.videoPort ? firstSeen : !seenFlows.has(rec.flow.id);
      seenFlows.add(rec.flow.id);
      windows.push({ session: spec.id, window: rec.window, time: rec.time, first, features: rec.features, label, ...(log.videoPort ? {} : { flow: rec.flow.id }) });
      firstSeen = false;
    }
    // the player's own log too (wall-clock ms), so the windows can be labelled again another way
    const playerLog = { startMs: log.startMs, endMs: log.endMs, segments: log.segments };
    const lines = tools.model
      ? (await readFile(output, 'utf8')).split('\n').filter((l) => l.startsWith('{"window"') && l.includes('"flow"')).map((l) => JSON.parse(l) as OutputLine)
      : [];
    const answers = labAnswers(lines, log, spec.id);
    // the kernel's window count on each of the video flow's lines: a gap in it shows in the data
    const kernelCounts = lines.filter((l) => l.flow.proto === 6 && l.flow.clientPort === log.videoPort && l.flow.serverPort === 8080).map((l) => l.kernel?.windows ?? 0);
    // a real player's own record too: rendered heights, stalls, its API's reports, and each response the server sent
    const realTruth = truth
      ? { truth, responses: serverLog.split('\n').filter((l) => l.includes('"path"')).map((l) => JSON.parse(l) as unknown) }
      : {};
    return { session: { ...spec, startupS: log.startupS, segments: log.segments.length, windows: windows.length, player: playerLog, ...realTruth, ...(tools.model ? { offsetMs, kernelCounts } : {}) }, windows, answers };
  } finally {
    playing.abort();
    playersInProgress.delete(playing);
    for (const ch of children) if (ch.exitCode === null) ch.kill('SIGKILL');
    await Promise.all([c, r, i, s].map((x) => x.remove()));
  }
}

/** The sessions and windows already in `dir` (none if it holds no data yet). */
async function readData(dir: string): Promise<{ sessions: { id: number }[]; windows: unknown[] }> {
  const lines = async (name: string) => {
    const text = await readFile(path.join(dir, name), 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? '' : Promise.reject(e)));
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
  };
  return { sessions: (await lines('lab-sessions.jsonl')) as { id: number }[], windows: await lines('lab-windows.jsonl') };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sessions: { type: 'string', default: '48' },
      parallel: { type: 'string', default: '4' },
      seconds: { type: 'string', default: '80' },
      seed: { type: 'string', default: '1' },
      // numbered from here (default: 0, or after the sessions already in --out with --append)
      'first-id': { type: 'string' },
      // keep the sessions already in --out and add these to them
      append: { type: 'boolean', default: false },
      // the in-kernel model and the QuickJS model side by side; their labelled answers
      'in-kernel': { type: 'boolean', default: false },
      // the players, taken in turn by session id: scripted (the lab's own), or real ones (players/)
      players: { type: 'string', default: 'scripted' },
      out: { type: 'string', default: projectPath('models', 'data') },
    },
  });
  const players = values.players!.split(',').filter(Boolean);
  const unknown = players.filter((p) => !PLAYER_NAMES.includes(p));
  if (!players.length || unknown.length) throw new Error(`--players: ${unknown.join(', ') || 'none given'}; the players are ${PLAYER_NAMES.join(', ')}`);
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces, tc, BPF)');
  for (const ns of await staleNamespaces()) await sh('ip', ['netns', 'del', ns]);
  const total = Number(values.sessions);
  const parallel = Number(values.parallel);
  const seconds = Number(values.seconds);
  const r = rng(Number(values.seed));
  const kept = values.append ? await readData(values.out!) : { sessions: [], windows: [] };
  const firstId = Number(values['first-id'] ?? (kept.sessions.length ? Math.max(...kept.sessions.map((x) => x.id)) + 1 : 0));
  const clash = kept.sessions.filter((x) => x.id >= firstId && x.id < firstId + total).map((x) => x.id);
  if (clash.length) throw new Error(`--first-id ${firstId}: sessions ${clash.slice(0, 5).join(', ')}${clash.length > 5 ? ', …' : ''} are already in ${values.out}`);
  const specs: SessionSpec[] = Array.from({ length: total }, (_, i) => {
    const id = firstId + i;
    const seed = Math.floor(r() * 1e9);
    const playerName = players[i % players.length]!;
    const adapter = PLAYERS[playerName]!;
    return {
      id,
      seed,
      seconds,
      // each player cycles through the segment lengths (with one player: by session id, as always;
      // by id alone, three players would each keep one length)
      segS: [2, 4, 6][Math.floor(id / players.length) % 3]!,
      trace: makeTrace(TRACE_KINDS[Math.floor(id / 3) % TRACE_KINDS.length]!, seed, seconds),
      // player.mjs makes it beside its video, the lab beside a real player (session())
      background: (['none', 'none', 'web', 'bulk'] as const)[Math.floor(r() * 4)]!,
      ...(adapter.actions ? { action: viewerAction(seed, seconds) } : {}),
      playerName,
      // a media-server player's sessions alternate between one HTTP/2 connection and HTTP/1.1's several
      ...(adapter.server === 'media' ? { transport: Math.floor(i / players.length) % 2 ? ('http1.1' as const) : ('h2' as const) } : {}),
    };
  });
  const inKernel = values['in-kernel']!;
  if (inKernel && values.out === projectPath('models', 'data')) throw new Error('--in-kernel: give its own --out; models/data is the training data');
  if (inKernel && values.append) throw new Error('--in-kernel writes a run of its own: --append is not for it');
  const sessions: unknown[] = [...kept.sessions];
  const windows: unknown[] = [...kept.windows];
  const answers: LabAnswer[] = [];
  let done = 0;
  // every completed session, with those kept from --out; one file at a time, each atomically,
  // sessions first: a crash between the two leaves sessions without windows, which training
  // skips and --append numbers after. Once: a signal's stop and the run's own end both save, and
  // two writers of one temporary file would leave one file unwritten.
  let saving: Promise<void> | undefined;
  const save = () => (saving ??= write());
  const write = async () => {
    const byId = (a: unknown, b: unknown) => (a as { id: number }).id - (b as { id: number }).id;
    sessions.sort(byId);
    windows.sort((a, b) => {
      const x = a as { session: number; window: number };
      const y = b as { session: number; window: number };
      return x.session - y.session || x.window - y.window;
    });
    await mkdir(values.out!, { recursive: true });
    await writeFileAtomic(path.join(values.out!, 'lab-sessions.jsonl'), sessions.map((x) => JSON.stringify(x)).join('\n') + '\n');
    await writeFileAtomic(path.join(values.out!, 'lab-windows.jsonl'), windows.map((w) => JSON.stringify(w)).join('\n') + '\n');
    process.stderr.write(`${sessions.length} sessions, ${windows.length} windows -> ${values.out}\n`);
    if (inKernel) {
      answers.sort((a, b) => a.session - b.session || a.placement.localeCompare(b.placement) || a.window - b.window);
      await writeFileAtomic(path.join(values.out!, 'lab-answers.jsonl'), answers.map((a) => JSON.stringify(a)).join('\n') + '\n');
      const summary = answerAccuracy(answers);
      await writeFileAtomic(path.join(values.out!, 'lab-answers-summary.json'), `${JSON.stringify({ sessions: sessions.length, ...summary }, null, 1)}\n`);
      process.stderr.write(`in-kernel: ${JSON.stringify(summary)}\n`);
    }
  };
  // Ctrl-C at any point: the tools build removes its container, the sessions in progress stop
  // and their namespaces go; the sessions completed so far are written (none: nothing is)
  const stop = new AbortController();
  const building = buildBpfTools('bpfel', stop.signal);
  let work: string | undefined;
  const abort = (signal: NodeJS.Signals) => {
    process.stderr.write(`lab: ${signal}: stopping the sessions in progress and removing their namespaces\n`);
    // the build and the sessions fail as they are stopped: expected now, the exit below is what counts
    process.on('unhandledRejection', () => {});
    process.on('uncaughtException', () => {});
    stop.abort();
    for (const ch of live) ch.kill('SIGKILL');
    for (const p of playersInProgress) p.abort();
    void (async () => {
      const tools = await building.catch(() => undefined);
      for (const ns of await Netns.list(RUN)) await sh('ip', ['netns', 'del', ns]).catch(() => {});
      if (work) await rm(work, { recursive: true, force: true });
      if (tools) await rm(tools.dir, { recursive: true, force: true });
      if (done > 0) await save();
      else process.stderr.write('lab: no session completed; nothing written\n');
      process.exit(signal === 'SIGINT' ? 130 : 143);
    })();
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  process.stderr.write(`building the host runner and the bpfel object in the toolchain image…\n`);
  const tools = await building;
  const labTools: LabTools = inKernel
    ? { runner: tools.runner, object: tools.forestObject, model: projectPath('models', 'video-quality.js') }
    : { runner: tools.runner, object: tools.object };
  work = await mkdtemp(path.join(tmpdir(), 'fwbuild-lab-'));
  if (players.some((p) => PLAYERS[p]!.server === 'media')) {
    process.stderr.write(`encoding (or reusing) the media ladder for ${seconds + 20} s of playback…\n`);
    labTools.media = await mediaSet(seconds + 20, stop.signal);
    labTools.tls = await makeLabTls(work, Array.from({ length: parallel }, (_, slot) => `10.79.${slot}.2`));
  }
  // A failed session is reported and left out; the others go on. Three failures in a row is
  // something systematic: the run stops there and keeps what it has.
  const failed: number[] = [];
  let inARow = 0;
  try {
    let next = 0;
    const worker = async (slot: number) => {
      while (next < specs.length && inARow < 3) {
        const spec = specs[next++]!;
        const t = Date.now();
        try {
          const res = await session(spec, slot, labTools, work!);
          sessions.push(res.session);
          windows.push(...res.windows);
          answers.push(...res.answers);
          done++;
          inARow = 0;
          process.stderr.write(`session ${spec.id} (${spec.playerName}${spec.transport ? ` ${spec.transport}` : ''}, ${spec.trace.kind}, ${spec.segS} s segments, ${spec.background}${spec.action ? `, ${spec.action.kind} at ${spec.action.atS} s` : ''}): ${res.windows.length} windows, startup ${res.session.startupS} s, ${((Date.now() - t) / 1000).toFixed(0)} s\n`);
        } catch (e) {
          if (stop.signal.aborted) return;
          failed.push(spec.id);
          inARow++;
          process.stderr.write(`lab: session ${spec.id} failed, left out: ${(e as Error).message.split('\n')[0]}\n`);
        }
      }
    };
    await Promise.all(Array.from({ length: parallel }, (_, i) => worker(i)));
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(tools.dir, { recursive: true, force: true });
  }
  if (done > 0) await save();
  if (failed.length) {
    const why = inARow >= 3 ? `; stopped after three failures in a row, ${specs.length - done - failed.length} not run` : '';
    throw new Error(`${failed.length} session(s) failed and are not in the data: ${failed.join(', ')}${why}`);
  }
}

// one line for what went wrong (a bad option, not root, a failed session), not a stack
await main().catch((e: unknown) => {
  process.stderr.write(`lab: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
