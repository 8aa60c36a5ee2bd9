/**
 * fwrunner on the host kernel: attaches to a veth in a network namespace, sees real traffic,
 * runs a model every window, survives bad models, detaches on SIGTERM. Needs root and Docker.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { projectPath } from '../../builder/util/paths.js';
import { buildBpfTools, type BenchBpfResult, type BpfTools } from '../../devkit/bpf.js';
import { referenceModel } from '../../builder/vrouter/reference-model.js';
import { referencePredictions } from '../helpers/model.js';
import { inNs, sh, trafficIn, TunPair, VethPair } from '../../devkit/netns.js';

let tools: BpfTools;
let bpffs: string;
test.before(async () => {
  tools = await buildBpfTools('bpfel');
  // A private bpf file system for pins: the host's /sys/fs/bpf is left alone.
  bpffs = await mkdtemp(path.join(tmpdir(), 'fwbuild-bpffs-'));
  await sh('mount', ['-t', 'bpf', 'bpf', bpffs]);
});
test.after.always(async () => {
  await sh('umount', [bpffs]).catch(() => '');
  await rm(bpffs, { recursive: true, force: true });
  await rm(tools.dir, { recursive: true, force: true });
});

const fixture = (f: string): string => projectPath('test', 'fixtures', f);


interface Line {
  ready?: boolean;
  summary?: { active: number; flows: number; hooks: Record<'ingress' | 'egress', { packets: number; flowsCreated: number; flowFailed: number }> };
  flowTableRestored?: boolean;
  programs?: number;
  jited?: number;
  loadMs?: number;
  window?: number;
  flow?: { id: number; proto: number; client: string; clientPort: number; server: string; serverPort: number };
  features?: Record<string, number | number[]>;
  /** without a QuickJS model or --record: the flow's integer counts instead of its features */
  counts?: Record<string, number>;
  prediction?: Record<string, unknown> | null;
  error?: string;
  kernelModel?: boolean;
  /** the in-kernel model's newest answer for the flow (fw_flows_forest.bpf.o) */
  kernel?: { resolution: string; confidencePct: number; windows: number; startupMs: number | null };
}

/** A client and a server namespace joined by a veth pair, removed when the test ends. */
async function vethPair(t: ExecutionContext): Promise<VethPair> {
  const net = new VethPair();
  t.teardown(() => net.down());
  await net.up();
  return net;
}

/** Starts `fwrunner watch` inside a namespace; lines arrive as they are printed. */
function startRunner(ns: string, args: string[], runner = tools.runner) {
  const child = spawn('ip', ['netns', 'exec', ns, runner, 'watch', '--object', tools.object, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  let stderr = '';
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)) as Line);
      buf = buf.slice(nl + 1);
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', r));
  const ready = async (): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (!lines.some((l) => l.ready)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`runner not ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  // A window as long as the test, ended by SIGTERM once the traffic is done: the window holds
  // all of it however slowly a loaded machine starts the traffic (a fixed 3 s window did not,
  // once, on CI). SIGTERM cuts the first window's sleep short; it is still reported, exit 0.
  const endWindow = (): Promise<number | null> => {
    child.kill('SIGTERM');
    return exited;
  };
  return { child, lines, exited, ready, endWindow, stderr: () => stderr };
}

async function download(net: { client: string; server: string; serverV4: string }, bytes: number): Promise<{ received: number; local: number }> {
  let ready!: () => void;
  const listening = new Promise<void>((r) => (ready = r));
  const server = trafficIn(net.server, ['tcp-serve', '0.0.0.0', '8080', '1'], () => ready());
  await listening;
  const [got] = (await trafficIn(net.client, ['tcp-get', net.serverV4, '8080', String(bytes)])) as { received: number; local: number }[];
  await server;
  return got!;
}

test.serial('watch: real traffic through a veth is reported per flow with the right bytes and a prediction', async (t) => {
  const net = await vethPair(t);
  const out = path.join(tools.dir, 'out.jsonl');
  const rec = path.join(tools.dir, 'record.jsonl');
  const started = Date.now();
  const r = startRunner(net.server, [
    '--lan', net.serverIf, '--window', '600', '--once', '--model', fixture('model-echo.js'),
    '--pin-dir', 'none', '--output', out, '--record', rec,
  ]);
  await r.ready();
  const got = await download(net, 2_000_000);
  t.is(await r.endWindow(), 0, r.stderr());
  const lifetime = (Date.now() - started) / 1000;
  const flows = r.lines.filter((l) => l.window === 1 && l.flow?.proto === 6);
  const f = flows.find((l) => l.flow!.clientPort === got.local);
  t.truthy(f, JSON.stringify(r.lines.map((l) => l.flow)));
  t.like(f!.flow, { client: net.clientV4, server: net.serverV4, serverPort: 8080 });
  // A busy host can drop a frame after TC saw it; TCP sends it again and TC sees it twice:
  // the stream bytes count each byte once, the payload minus the retransmitted bytes too.
  t.is(f!.features!.downStreamBytes, 2_000_000, 'downstream stream bytes = bytes sent');
  t.is((f!.features!.downPayload as number) - (f!.features!.downRetransBytes as number), 2_000_000, 'payload minus retransmissions = bytes sent');
  t.is(f!.features!.upPayload, 'GET 2000000\n'.length);
  // the window was cut short by SIGTERM: its rate is over the time it covered (at most the
  // runner's lifetime), not over the 600 s it was configured for
  const bytes = f!.features!.downBytes as number;
  t.true((f!.features!.downMbps as number) >= (bytes * 8) / 1e6 / lifetime, `${f!.features!.downMbps} Mbps for ${bytes} bytes in ${lifetime} s`);
  t.is(f!.features!.window, 600, 'the configured length is still the model\'s window input');
  // one request and its response: the flow's first segment ended within its age, no second began
  const ends = f!.features!.segEndMs as number[];
  t.is(ends.length, 4);
  t.true(Number.isInteger(ends[0]) && ends[0]! > 0 && ends[0]! <= (f!.features!.ageS as number) * 1000, JSON.stringify(ends));
  t.deepEqual(ends.slice(1), [0, 0, 0]);
  // … and the ring holds that one segment: its response bytes, started before the window's end
  t.is((f!.features!.segBytes as number[])[0], f!.features!.downPayload as number, 'retransmitted payload counts in both');
  t.deepEqual((f!.features!.segBytes as number[]).slice(1), [0, 0, 0, 0, 0, 0, 0]);
  const ago = f!.features!.segAgoMs as number[];
  t.true(Number.isInteger(ago[0]) && ago[0]! > 0 && ago[0]! <= (f!.features!.ageS as number) * 1000, JSON.stringify(ago));
  // the echo model returns what it was given: the prediction is computed from these very features
  // … and the second argument is the flow itself, so a model can keep state per flow
  t.deepEqual(f!.prediction, {
    downPayload: f!.features!.downPayload,
    upPayload: 12,
    parallel: 1,
    rate: 'fast',
    flowId: f!.flow!.id,
    flow: `6 ${net.clientV4}:${got.local} ${net.serverV4}:8080`,
  });
  // The same lines went to the output file.
  const { readFile } = await import('node:fs/promises');
  const raw = await readFile(out, 'utf8');
  const file = raw.trim().split('\n').map((l) => JSON.parse(l) as Line);
  // Unix seconds to the millisecond, in the flow lines and the summary: the lab lines its ground truth up with it
  t.regex(raw, /^\{"window":1,"time":\d{10}\.\d{3},"flow":\{"id":\d+,/m);
  t.regex(raw, /^\{"window":1,"time":\d{10}\.\d{3},"summary":/m);
  t.true(Math.abs((file[0] as { time: number }).time - Date.now() / 1000) < 60);
  t.is(file.filter((l) => l.window === 1).length, r.lines.filter((l) => l.window === 1).length);
  t.is((await inNs(net.server, 'tc', ['filter', 'show', 'dev', net.serverIf, 'ingress'])).trim(), '', 'detached');
  // --record writes the very feature vectors the model saw: training and serving agree.
  const recorded = (await readFile(rec, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Line);
  t.deepEqual(recorded.map((l) => l.features), r.lines.filter((l) => l.window === 1 && l.flow).map((l) => l.features));
  // After the flows, one summary line per window: active flows and the hook counters.
  const summary = r.lines.find((l) => l.window === 1 && l.summary)?.summary;
  t.truthy(summary, 'a summary line for window 1');
  t.is(summary!.active, r.lines.filter((l) => l.window === 1 && l.flow).length);
  t.true(summary!.hooks.ingress.packets > 0 && summary!.hooks.egress.packets > 0);
  t.true(summary!.hooks.ingress.flowsCreated + summary!.hooks.egress.flowsCreated >= 1);
  t.is(summary!.hooks.ingress.flowFailed + summary!.hooks.egress.flowFailed, 0);
  t.true(recorded.every((l) => l.prediction === undefined));
});

test.serial('watch: an L3 WAN (tun, like pppoe-wan or WireGuard) is read from its IP header; bytes reconcile with the device', async (t) => {
  const net = new TunPair();
  t.teardown(() => net.down());
  await net.up();
  const r = startRunner(net.client, ['--wan', net.clientIf, '--window', '600', '--once', '--model', fixture('model-echo.js'), '--pin-dir', 'none']);
  await r.ready();
  t.is(r.lines[0]!.programs, 2, 'the IP variants only');
  t.regex(await inNs(net.client, 'tc', ['filter', 'show', 'dev', net.clientIf, 'ingress']), /fw_wan_ingress_ip/);
  t.regex(await inNs(net.client, 'tc', ['filter', 'show', 'dev', net.clientIf, 'egress']), /fw_wan_egress_ip/);
  const before = await net.stats(net.client, net.clientIf);
  const got = await download(net, 1_000_000);
  const after = await net.stats(net.client, net.clientIf);
  t.is(await r.endWindow(), 0, r.stderr());
  const flows = r.lines.filter((l) => l.window === 1 && l.flow);
  t.is(flows.length, 1, `one flow, none made of payload bytes: ${JSON.stringify(flows.map((l) => l.flow))}`);
  const f = flows[0]!;
  t.like(f.flow, { proto: 6, client: net.clientV4, clientPort: got.local, server: net.serverV4, serverPort: 8080 });
  t.is(f.features!.downStreamBytes, 1_000_000);
  t.is(f.features!.upPayload, 'GET 1000000\n'.length);
  // the device's own counters: every byte it carried is in the flow, each way
  t.is(f.features!.downBytes, after.rxBytes - before.rxBytes, 'downstream bytes = what the tun received');
  t.is(f.features!.upBytes, after.txBytes - before.txBytes, 'upstream bytes = what the tun sent');
  const hooks = r.lines.find((l) => l.window === 1 && l.summary)!.summary!.hooks as Record<string, Record<string, number>>;
  for (const h of ['ingress', 'egress']) t.like(hooks[h], { nonIp: 0, truncated: 0, ipv6: 0 });
});

test.serial('watch: a flow keeps its id from window to window, and each flow has its own', async (t) => {
  const net = await vethPair(t);
  const r = startRunner(net.server, ['--lan', net.serverIf, '--window', '1', '--windows', '5', '--model', fixture('model-echo.js'), '--pin-dir', 'none']);
  await r.ready();
  // a UDP stream of about 3 s spans several 1 s windows; a TCP download in the middle is another flow
  const udp = trafficIn(net.server, ['udp-send', net.clientV4, '9000', '300', '200', '9001', '10']);
  await new Promise((res) => setTimeout(res, 1000));
  const got = await download(net, 100_000);
  await udp;
  t.is(await r.exited, 0, r.stderr());
  const of = (match: (f: NonNullable<Line['flow']>) => boolean) => r.lines.filter((l) => l.flow && match(l.flow));
  const udpLines = of((f) => f.proto === 17 && f.clientPort + f.serverPort === 18001);
  const tcpLines = of((f) => f.proto === 6 && f.clientPort === got.local);
  t.true(new Set(udpLines.map((l) => l.window)).size >= 2, `the UDP flow spans windows: ${JSON.stringify(udpLines.map((l) => l.window))}`);
  t.is(new Set(udpLines.map((l) => l.flow!.id)).size, 1, 'one id for the UDP flow in every window');
  t.true(tcpLines.length >= 1);
  t.not(tcpLines[0]!.flow!.id, udpLines[0]!.flow!.id);
  const ids = new Map<string, number>();
  for (const l of r.lines.filter((x) => x.flow)) {
    const f = l.flow!;
    t.true(Number.isInteger(f.id) && f.id > 0);
    // the model is given the same id as the line shows
    t.is((l.prediction as { flowId: number }).flowId, f.id);
    ids.set(`${f.proto} ${f.client}:${f.clientPort} ${f.server}:${f.serverPort}`, f.id);
  }
  t.is(new Set(ids.values()).size, ids.size, `distinct flows, distinct ids: ${JSON.stringify([...ids])}`);
});

test.serial('watch with the in-kernel model: the kernel answers each flow in windows as long as the runner\'s, beside the QuickJS model or alone, where a runner built without QuickJS computes no features', async (t) => {
  const net = await vethPair(t);
  const streamBytes: Record<string, number> = {};
  for (const model of [projectPath('models', 'video-quality.js'), 'none']) {
    // the kernel alone runs the runner inference "kernel" ships: built without QuickJS
    const runner = model === 'none' ? tools.leanRunner : tools.runner;
    const r = startRunner(net.server, ['--object', tools.forestObject, '--lan', net.serverIf, '--window', '1', '--windows', '5', '--model', model, '--pin-dir', 'none'], runner);
    await r.ready();
    t.true(r.lines[0]!.kernelModel, 'the ready line says the object carries the in-kernel model');
    t.is(r.lines[0]!.programs, 3, 'the two programs of a LAN port and the window end they tail-call');
    // a UDP stream of about 3 s: the kernel closes its 1 s windows with the stream's packets
    const udp = trafficIn(net.server, ['udp-send', net.clientV4, '9000', '300', '200', '9001', '10']);
    await udp;
    t.is(await r.exited, 0, r.stderr());
    const lines = r.lines.filter((l) => l.flow?.proto === 17 && l.flow.clientPort + l.flow.serverPort === 18001);
    const answered = lines.filter((l) => l.kernel);
    t.true(answered.length >= 1, `${model}: kernel answers in ${JSON.stringify(lines.map((l) => l.window))}`);
    for (const l of answered) {
      t.true(['240p', '360p', '480p', '720p', '1080p'].includes(l.kernel!.resolution));
      t.true(l.kernel!.confidencePct > 0 && l.kernel!.confidencePct <= 100);
      t.is(l.kernel!.startupMs, null, 'UDP without requests: no startup');
    }
    // windows of 1 s over a stream of about 3 s: at least two ended by its packets
    const most = Math.max(...answered.map((l) => l.kernel!.windows));
    t.true(most >= 2 && most <= 4, `the kernel closed ${most} windows of the stream`);
    const of = (l: Line) => (l.features ?? l.counts ?? {}) as Record<string, number>;
    streamBytes[model] = lines.reduce((a, l) => a + of(l)['upStreamBytes']! + of(l)['downStreamBytes']!, 0);
    if (model === 'none') {
      t.true(
        lines.every((l) => l.features === undefined && l.prediction === undefined && l.error === undefined),
        'the kernel alone: no features, no prediction, no "no model" error',
      );
      for (const l of lines)
        t.deepEqual(Object.keys(l.counts!).sort(), ['downBytes', 'downPackets', 'downStreamBytes', 'upBytes', 'upPackets', 'upStreamBytes']);
      t.true(lines.every((l) => Object.values(l.counts!).every((v) => Number.isInteger(v) && v >= 0)));
      // every packet of this flow is one 200-byte datagram
      const packets = lines.reduce((a, l) => a + l.counts!['upPackets']! + l.counts!['downPackets']!, 0);
      t.is(streamBytes[model], packets * 200);
    } else {
      t.true(lines.every((l) => typeof l.prediction?.['resolution'] === 'string'), 'the QuickJS model answers as well');
    }
  }
  // two runs of their own may each see a different share of the stream (the runner stops after
  // 5 windows, however far the stream got), so each is checked against the datagrams: 200 bytes each
  for (const [model, bytes] of Object.entries(streamBytes)) {
    t.true(bytes > 0 && bytes <= 300 * 200 && bytes % 200 === 0, `${model}: ${bytes} stream bytes of 300 datagrams of 200`);
  }
});

test.serial('SIGTERM detaches every filter; the pinned flow table survives a restart', async (t) => {
  const net = await vethPair(t);
  const pins = path.join(bpffs, `pins-${net.id}`);
  const args = ['--lan', net.serverIf, '--window', '1', '--model', fixture('model-echo.js'), '--pin-dir', pins];
  const r = startRunner(net.server, args);
  await r.ready();
  t.false(r.lines[0]!.flowTableRestored);
  t.is(r.lines[0]!.programs, 2, 'only the two programs a LAN Ethernet port needs are loaded');
  t.is(r.lines[0]!.jited, 2, 'the host kernel JIT-compiles both');
  t.true((r.lines[0]!.loadMs ?? -1) > 0, 'the ready line says how long loading (verification, JIT) took');
  t.regex(await inNs(net.server, 'tc', ['filter', 'show', 'dev', net.serverIf, 'ingress']), /fw_lan_ingress/);
  t.regex(await inNs(net.server, 'tc', ['filter', 'show', 'dev', net.serverIf, 'egress']), /fw_lan_egress/);
  await download(net, 300_000);
  r.child.kill('SIGTERM');
  t.is(await r.exited, 0, r.stderr());
  t.regex(r.stderr(), /stopped by signal 15; filters removed, flow table kept in its pin/);
  t.is((await inNs(net.server, 'tc', ['filter', 'show', 'dev', net.serverIf, 'ingress'])).trim(), '');
  t.is((await inNs(net.server, 'tc', ['filter', 'show', 'dev', net.serverIf, 'egress'])).trim(), '');
  t.notRegex(await inNs(net.server, 'tc', ['qdisc', 'show', 'dev', net.serverIf]), /clsact/, 'the clsact qdisc it added is gone too');
  t.deepEqual((await readdir(pins)).sort(), ['fw_counters', 'fw_flows', 'fw_pending', 'fw_zero']);

  const again = startRunner(net.server, [...args, '--windows', '1']);
  await again.ready();
  t.true(again.lines[0]!.flowTableRestored, 'the restarted runner reuses the pinned table');
  t.is(await again.exited, 0, again.stderr());
});

test.serial('bad models are reported and the runner keeps going', async (t) => {
  const feats = (await (await import('node:fs/promises')).readFile(fixture('features.jsonl'), 'utf8'));
  const run = (model: string, extra: string[] = []) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(tools.runner, ['predict', '--model', fixture(model), ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      c.on('close', (code) => resolve({ code, stdout, stderr }));
      c.stdin.on('error', () => {}); // a model that fails to load exits before reading
      c.stdin.end(feats);
    });
  const syntax = await run('model-syntax.js');
  t.is(syntax.code, 2);
  t.regex(syntax.stderr, /fwrunner: model .*model-syntax\.js: SyntaxError/);

  for (const [model, re] of [
    ['model-throws.js', /Error: model bug: 6/],
    ['model-loops.js', /InternalError: interrupted/],
    ['model-hog.js', /out of memory/],
  ] as const) {
    const r = await run(model, ['--time-limit', '200', '--mem-limit', '2000000']);
    t.is(r.code, 0, `${model}: the runner survives`);
    t.is(r.stdout.trim().split('\n').length, 3, `${model}: one answer per feature vector`);
    t.regex(r.stderr, re, model);
  }
  const ok = await run('model-forest.js');
  t.is(ok.code, 0);
  t.is(ok.stdout, await referencePredictions(fixture('model-forest.js'), feats), 'the same answers as Node.js gives');

  // predict passes a recorded line's flow as the second argument; a bare feature line has none
  const echo = await new Promise<string>((resolve, reject) => {
    const c = spawn(tools.runner, ['predict', '--model', fixture('model-echo.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`exit ${code}`))));
    const f = feats.trim().split('\n')[0]!;
    c.stdin.end(`{"flow":{"proto":17,"client":"10.0.0.2","clientPort":5353,"server":"10.0.0.1","serverPort":53,"vlan":0},"features":${f}}\n${f}\n`);
  });
  t.deepEqual(echo.trim().split('\n').map((l) => (JSON.parse(l) as { flow: string | null }).flow), ['17 10.0.0.2:5353 10.0.0.1:53', null]);
});

test.serial('watch keeps running windows when the model throws', async (t) => {
  const net = await vethPair(t);
  const r = startRunner(net.server, ['--lan', net.serverIf, '--window', '1', '--windows', '3', '--model', fixture('model-throws.js'), '--pin-dir', 'none']);
  await r.ready();
  await download(net, 100_000);
  t.is(await r.exited, 0, r.stderr());
  const failed = r.lines.filter((l) => l.error === 'model failed');
  t.true(failed.length >= 1);
  t.true(failed.every((l) => l.prediction === null && l.features !== undefined));
  t.regex(r.stderr(), /model failed on a flow \(window \d\): Error: model bug/);
});

test.serial('the output file is capped: past output_max_kb it rolls over to FILE.1', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-cap-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'out.jsonl');
  // bench-window writes a window of synthetic flows through the same output path as watch.
  const { execFile } = await import('node:child_process');
  const runOnce = () =>
    new Promise<void>((resolve, reject) =>
      execFile(tools.runner, ['bench-window', '--flows', '200', '--model', fixture('model-echo.js'), '--output', out, '--output-max-kb', '64'], { maxBuffer: 64 << 20 }, (e) => (e ? reject(e) : resolve())),
    );
  await runOnce();
  await runOnce();
  const { stat } = await import('node:fs/promises');
  const cur = await stat(out);
  const old = await stat(`${out}.1`);
  t.true(cur.size <= 64 * 1024 + 4096, `current file ${cur.size} B stays near the cap`);
  t.true(old.size >= 64 * 1024, 'the rolled-over file holds the previous lines');
});

test.serial('the plain init script starts the runner from the shipped config and stops it cleanly', async (t) => {
  // The virtual routers' init script and UCI config, run for real: the installed layout
  // (/usr/bin, /usr/lib/fwrunner, /usr/share/fwrunner, /etc) is laid over the host's with
  // overlayfs inside a private mount namespace, in a network namespace that has a br-lan.
  const net = await vethPair(t);
  await inNs(net.server, 'ip', ['link', 'set', 'dev', net.serverIf, 'name', 'br-lan']);
  const root = await mkdtemp(path.join(tmpdir(), 'fwbuild-init-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const { copyFile, chmod } = await import('node:fs/promises');
  const put = async (rel: string, from: string, mode = 0o644) => {
    const dest = path.join(root, 'upper', rel);
    await mkdir(path.dirname(dest), { recursive: true });
    await copyFile(from, dest);
    await chmod(dest, mode);
  };
  await put('usr/bin/fwrunner', tools.runner, 0o755);
  await put('usr/lib/fwrunner/fw_flows.bpf.o', tools.object);
  await sh(tools.runner, ['compile', projectPath('models', 'video-quality.js'), path.join(root, 'model.qbc')]);
  await put('usr/share/fwrunner/model.qbc', path.join(root, 'model.qbc'));
  await put('etc/config/fwrunner', projectPath('overlays', 'common', 'etc', 'config', 'fwrunner'));
  await put('etc/init.d/fwrunner', projectPath('overlays', 'debian', 'etc', 'init.d', 'fwrunner'), 0o755);
  const overlay = (dir: string) =>
    `mkdir -p ${root}/upper/${dir} ${root}/work-${dir} && ` +
    `mount -t overlay overlay -o lowerdir=/${dir},upperdir=${root}/upper/${dir},workdir=${root}/work-${dir} /${dir}`;
  const script = [
    'set -e',
    overlay('usr'),
    overlay('etc'),
    overlay('var'),
    '/etc/init.d/fwrunner start',
    'for i in $(seq 1 50); do tc filter show dev br-lan ingress | grep -q fw_lan_ingress && break; sleep 0.1; done',
    'echo "== attached"; tc filter show dev br-lan ingress; tc filter show dev br-lan egress',
    '/etc/init.d/fwrunner stop',
    'for i in $(seq 1 50); do tc filter show dev br-lan ingress | grep -q . || break; sleep 0.1; done',
    'echo "== stopped"; tc filter show dev br-lan ingress; tc filter show dev br-lan egress',
    'echo "== pins"; ls /sys/fs/bpf/fwrunner',
    // the script's own line once the runner has ended (fwbuild test stops waiting on it)
    'for i in $(seq 1 50); do grep -q "fwrunner: exited" /var/log/fwrunner.log && break; sleep 0.1; done',
    'echo "== log"; cat /var/log/fwrunner.log',
  ].join('\n');
  const out = await inNs(net.server, 'unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script]);
  const [attached, stopped] = [out.split('== stopped')[0]!, out.split('== stopped')[1]!.split('== pins')[0]!];
  t.regex(attached, /fw_lan_ingress/);
  t.regex(attached, /fw_lan_egress/);
  t.is(stopped.trim(), '', 'stop removed both filters');
  t.regex(out, /== pins\nfw_counters\nfw_flows\nfw_pending\nfw_zero\n/, 'the flow table stays pinned for the next start');
  t.regex(out, /watching 1 interface\(s\), 10 s windows/, 'the shipped config was read: br-lan, 10 s windows');
  t.regex(out, /stopped by signal 15; filters removed/);
  t.regex(out, /fwrunner: exited with status 0\n/, 'the init script says when the runner has ended, and how');
  // The procd script needs OpenWrt's procd; here only its shell syntax can be checked.
  await sh('sh', ['-n', projectPath('overlays', 'openwrt', 'etc', 'init.d', 'fwrunner')]);
});

test('a bad setting gets one clear line and exit 2', async (t) => {
  const run = (args: string[], runner = tools.runner) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(runner, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      c.on('close', (code) => resolve({ code, stderr }));
    });
  const w = await run(['watch', '--lan', 'x', '--window', 'abc']);
  t.is(w.code, 2);
  t.is(w.stderr.trim(), 'fwrunner: --window: "abc" is not an integer from 1 to 3600');
  const u = await run(['watch', '--lan', 'x', '--colour', 'red']);
  t.is(u.code, 2);
  t.regex(u.stderr, /unknown setting "colour"; accepted: lan, wan, window/);
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-uci-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'fwrunner'), "config fwrunner 'main'\n\toption window '10'\n\tlist lan 'br-lan'\n\toption window '0'\n");
  const c = await run(['watch', '--config', path.join(dir, 'fwrunner')]);
  t.is(c.code, 2);
  t.is(c.stderr.trim(), `fwrunner: config ${path.join(dir, 'fwrunner')}:4: window: "0" is not an integer from 1 to 3600`);
  // The config shipped in the overlay parses: the first complaint is about the missing model.
  const shipped = await run(['watch', '--config', projectPath('overlays', 'common', 'etc', 'config', 'fwrunner')]);
  t.is(shipped.code, 2);
  t.is(shipped.stderr.trim(), 'fwrunner: model /usr/share/fwrunner/model.qbc: cannot read it');
  const none = await run(['watch', '--model', 'none']);
  t.is(none.code, 2);
  t.regex(none.stderr, /no interface to watch/);
  const missing = await run(['watch', '--lan', 'x', '--model', '/nonexistent.qbc']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /model \/nonexistent\.qbc: cannot read it/);
  t.is((await run(['predict', '--model', 'none'])).stderr.trim(), 'fwrunner: predict needs a model: --model none has no predict()');

  // a runner built without QuickJS names what it lacks, for a model and for the script commands
  const leanRun = (args: string[]) => run(args, tools.leanRunner);
  const js = await leanRun(['watch', '--lan', 'x', '--model', projectPath('models', 'video-quality.js')]);
  t.is(js.code, 2);
  t.is(js.stderr.trim(), `fwrunner: model ${projectPath('models', 'video-quality.js')}: this fwrunner is built without QuickJS (for inference "kernel"): its only model is "none"`);
  const ev = await leanRun(['eval', projectPath('models', 'video-quality.js')]);
  t.is(ev.code, 2);
  t.is(ev.stderr.trim(), 'fwrunner: eval: this fwrunner is built without QuickJS (for inference "kernel")');
});

interface Check {
  flow: { id: number } & Record<string, unknown>;
  features: Record<string, unknown>;
  resolution: string;
  startupMs?: number;
}

/** The shipped model compiled by the host runner into a temporary dir, and its check lines
 * (written by models/train.py: held-out features and what scikit-learn's forest answered). */
async function shippedModel(t: ExecutionContext): Promise<{ dir: string; source: string; qbc: string; checks: Check[] }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-model-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const source = projectPath('models', 'video-quality.js');
  const qbc = path.join(dir, 'model.qbc');
  await sh(tools.runner, ['compile', source, qbc]);
  const checks = (await readFile(projectPath('models', 'video-quality.check.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Check);
  return { dir, source, qbc, checks };
}

test('the shipped model (models/video-quality.js): as QuickJS bytecode it answers exactly as the trained forest on every held-out window, in sequence', async (t) => {
  const { dir, qbc, checks } = await shippedModel(t);
  t.true(checks.length >= 50, `${checks.length} held-out inputs`);
  t.true(checks.some((c) => c.startupMs !== undefined), 'startup delays are checked too');
  const input = path.join(dir, 'features.jsonl');
  // recorded lines, each flow's windows in order: the model remembers a flow's previous window
  await writeFile(input, checks.map((c) => JSON.stringify({ flow: c.flow, features: c.features })).join('\n') + '\n');
  const out = await sh('sh', ['-c', `"$0" predict --time-limit 60000 --model "$1" < "$2"`, tools.runner, qbc, input]);
  const answers = out.trim().split('\n').map((l) => JSON.parse(l) as { resolution: string; startupMs?: number });
  t.is(answers.length, checks.length);
  // the startup too: answered in the same windows (once per flow) with the same value, absent in the others
  const wrong = checks.filter((c, i) => answers[i]!.resolution !== c.resolution || answers[i]!.startupMs !== c.startupMs);
  t.deepEqual(wrong.slice(0, 3), [], `${wrong.length} of ${checks.length} answers differ from the trained model's`);
});

test('the shipped model keeps its per-flow state for 1,100 flows at once (its table holds 1,024, then starts again) within the 4 MB heap `watch` gives it, and answers as Node.js does', async (t) => {
  const { dir, source, qbc, checks } = await shippedModel(t);
  // one held-out flow's first windows, played by 1,100 flows in turn: every flow's state is live
  const windows = checks.filter((c) => c.flow.id === checks[0]!.flow.id).slice(0, 3);
  t.is(windows.length, 3);
  const lines: { flow: unknown; features: unknown }[] = [];
  for (const w of windows) for (let id = 1; id <= 1100; id++) lines.push({ flow: { ...w.flow, id, clientPort: 20000 + id }, features: w.features });
  const input = path.join(dir, 'features.jsonl');
  await writeFile(input, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const out = await sh('sh', ['-c', `"$0" predict --mem-limit 4194304 --time-limit 60000 --model "$1" < "$2" 2> "$3"`, tools.runner, qbc, input, path.join(dir, 'stderr')]);
  t.is(await readFile(path.join(dir, 'stderr'), 'utf8'), '', 'no model error (out of memory would be one)');
  const predict = referenceModel(await readFile(source, 'utf8'));
  const expected = lines.map((l) => JSON.stringify(predict(l.features, l.flow)));
  const answers = out.trim().split('\n');
  t.is(answers.length, lines.length);
  t.deepEqual(answers.filter((a, i) => a !== expected[i]).slice(0, 3), [], 'the same answers as Node.js gives, state and all');
  // in a heap too small for that state, the runner says so, whatever it was doing when the heap
  // ran out (a window's prediction, or reading the next line, after which it stops)
  const small = await sh('sh', ['-c', `"$0" predict --mem-limit 1048576 --time-limit 60000 --model "$1" < "$2" 2>&1 >/dev/null; true`, tools.runner, qbc, input]);
  const errors = small.trim().split('\n');
  t.true(errors.length > 0 && errors[0] !== '');
  t.deepEqual(errors.filter((l) => !/^fwrunner: .*InternalError: out of memory/.test(l)).slice(0, 3), []);
});

test('bench-bpf measures the programs through BPF_PROG_TEST_RUN beside an empty program, and refuses a bad count', async (t) => {
  // What bench:platforms runs in every virtual router, here on the host kernel.
  const out = await sh(tools.runner, ['bench-bpf', '--object', tools.object, '--repeat', '2000', '--new-flows', '200']);
  const r = JSON.parse(out) as BenchBpfResult;
  // figures only (timing is for bench/): every one measured, none missing or negative
  t.is(r.programs, 4, 'the four Ethernet-port programs');
  t.is(r.jited, r.jitEnable > 0 ? 4 : 0);
  for (const v of [r.loadAllNs, r.loadOneNs, r.existingFlow.ns, r.existingFlow.emptyNs, r.newFlow.ns, r.newFlow.emptyNs, r.newFlowSecond.ns, r.newFlowSecond.emptyNs, r.nonIp.ns, r.nonIp.emptyNs]) {
    t.true(Number.isFinite(v) && v > 0, JSON.stringify(r));
  }
  t.is(r.forestPrediction, undefined, 'no in-kernel forest in this object');
  // the object with the in-kernel model: the same, and one prediction of its forest
  const f = JSON.parse(await sh(tools.runner, ['bench-bpf', '--object', tools.forestObject, '--repeat', '2000', '--new-flows', '200'])) as BenchBpfResult;
  t.is(f.programs, 5, 'the four Ethernet-port programs and the window end they tail-call');
  t.true(Number.isFinite(f.forestPrediction?.ns) && f.forestPrediction!.ns > 0 && f.forestPrediction!.emptyNs > 0, JSON.stringify(f));

  const bad = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const c = spawn(tools.runner, ['bench-bpf', '--object', tools.object, '--repeat', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => resolve({ code, stderr }));
  });
  t.is(bad.code, 2);
  t.is(bad.stderr.trim(), 'fwrunner: --repeat needs a whole number from 1 to 1000000, got "0"');
  const missing = await sh(tools.runner, ['bench-bpf', '--object', '/nonexistent.o']).catch((e: Error) => e.message);
  t.regex(missing, /nonexistent\.o/);

  // bench-loop: the guest-clock calibration; it reports the loop it ran and a time
  const loop = JSON.parse(await sh(tools.runner, ['bench-loop', '1000000'])) as { loop: number; ns: number };
  t.is(loop.loop, 1_000_000);
  t.true(Number.isInteger(loop.ns) && loop.ns > 0, JSON.stringify(loop));
  const noCount = await sh(tools.runner, ['bench-loop']).catch((e: Error) => e.message);
  t.regex(noCount, /bench-loop needs a number of iterations/);
});
