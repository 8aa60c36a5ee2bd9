import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Catalog } from '../catalog/load.js';
import { isVirtualRouter, twinOf } from '../catalog/target.js';
import type { ResolvedConfig } from '../config/config.js';
import { BuildError, InterruptedError, UsageError } from '../errors.js';
import { build, type BuildOptions } from '../pipeline/build.js';
import type { Manifest } from '../toolkit/manifest.js';
import { targetSlug } from '../util/paths.js';
import { which } from '../util/which.js';
import { Netns } from './netns.js';
import { QemuRouter } from './qemu-router.js';
import { qemuSystemPackage, TAP } from '../debian/qemu-command.js';
import { INFERENCE } from '../config/inference.js';
import { referenceModel } from './reference-model.js';
import { readRouterConf, type Port, type RouterPorts } from '../debian/router-conf.js';
import { traffic, withListener } from './traffic.js';

/** Prefix of every namespace `fwbuild test` creates, so leftovers are recognisable. */
export const LAB_PREFIX = 'fwlab-';

export interface RouterTestOptions extends Pick<BuildOptions, 'renderer'> {
  signal?: AbortSignal;
  /** Seconds from QEMU start to the runner's ready line. */
  bootTimeout?: number;
  /** Progress lines for a person watching. */
  say?: (s: string) => void;
  /** Fixed lab id (tests use it to look for leftovers); random otherwise. */
  labId?: string;
  /** Passed to the build: fail if the inputs differ from fwbuild.lock. */
  frozen?: boolean;
  /** Added to the image's QEMU command line (bench:platforms: `-icount shift=0`). */
  qemuArgs?: string[];
  /**
   * Runs once the runner is ready and the guest's rcS is done, before the test's traffic: benches
   * run commands in the guest and send traffic of their own here.
   */
  onReady?: (lab: RouterLab) => Promise<void>;
}

/** What a booted router test holds, for `onReady`. */
export interface RouterLab {
  router: QemuRouter;
  lan: Netns;
  wan: Netns;
  ports: RouterPorts;
  signal: AbortSignal;
}

/** One flow the test sent, what the runner reported for it, and whether they agree. */
export interface FlowCheck {
  name: string;
  proto: number;
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  expected: { up: number; down: number };
  /** stream bytes (TCP: sequence space, each byte once; UDP: payload), summed over the runner's windows; null if never seen */
  seen: { up: number; down: number; windows: number } | null;
  ok: boolean;
}

export interface RouterTestReport {
  ok: boolean;
  target: string;
  consoleLog: string;
  /** the image build before the boot: steps that ran, and how many came from the cache */
  build: { ran: string[]; cached: number; seconds: number };
  /** seconds from QEMU start to the runner's ready line, and to its first prediction */
  bootSeconds: number;
  firstPredictionSeconds: number | null;
  runner: { programs: number; jited: number; window: number; loadMs: number; vmHwmKb: number | null; vmRssKb: number | null };
  /** the BPF hook counters of the runner's last window summary (LAN port, ingress and egress) */
  hooks: Record<string, Record<string, number>> | null;
  flows: { expected: number; seen: number; extra: number; checks: FlowCheck[] };
  bytes: { expected: { up: number; down: number }; seen: { up: number; down: number } };
  predictions: { lines: number; withPrediction: number; matchingReference: number; sample: unknown[] };
  /** with the in-kernel model (config `inference`): flow lines that carry the kernel's answer, and the most windows one flow had answered */
  kernel: { lines: number; windows: number; sample: unknown[] } | null;
  udp: { sent: number; received: number };
  failures: string[];
  seconds: number;
}

interface RunnerLine {
  window?: number;
  ready?: boolean;
  programs?: number;
  jited?: number;
  flow?: { id: number; proto: number; client: string; clientPort: number; server: string; serverPort: number };
  features?: Record<string, number>;
  /** the runner without a QuickJS model computes no features: the flow's counts instead */
  counts?: Record<string, number>;
  prediction?: unknown;
  kernel?: { resolution: string; confidencePct: number; windows: number; startupMs: number | null };
  error?: string;
  summary?: { active: number; flows: number; hooks: Record<string, Record<string, number>> };
}

const TCP = 6;
const UDP = 17;
const SERVER_PORT = 8080;

/** The traffic every run sends: TCP downloads of known sizes (IPv4 and IPv6) and a UDP stream. */
const PLAN = {
  downloads: [
    { name: 'tcp4-1MB', family: 4, bytes: 1_000_000 },
    { name: 'tcp4-300kB', family: 4, bytes: 300_000 },
    { name: 'tcp6-500kB', family: 6, bytes: 500_000 },
  ],
  udp: { name: 'udp4-stream', count: 200, size: 1000, clientPort: 9000, serverPort: 9001, gapMs: 5 },
} as const;

/**
 * `fwbuild test`: builds (or reuses) the virtual router image, boots it in QEMU between a LAN
 * client and a WAN server namespace joined to it by tap devices, sends known traffic through
 * it, and checks the runner's JSON lines against what was sent. Namespaces, taps and QEMU are
 * removed on every way out.
 */
export async function testRouter(config: ResolvedConfig, catalog: Catalog, name: string, o: RouterTestOptions = {}): Promise<RouterTestReport> {
  const started = Date.now();
  const target = catalog.resolve(name);
  if (!isVirtualRouter(target)) {
    const twin = twinOf(target);
    throw new UsageError(
      `fwbuild test boots virtual routers; ${target.name} is an OpenWrt device target` + (twin ? ` (its QEMU twin is ${twin})` : ''),
    );
  }
  if (process.getuid?.() !== 0) {
    throw new UsageError('fwbuild test needs root: it creates network namespaces and tap devices', 'run it with sudo, or as root');
  }
  if (!(await which(target.qemu.system))) {
    throw new UsageError(`${target.qemu.system} is not installed`, `apt-get install -y ${qemuSystemPackage(target.qemu.system)}`);
  }
  const say = o.say ?? (() => {});
  const signal = o.signal ?? new AbortController().signal;
  const built = await build(config, catalog, { targets: [target.name] }, { signal, renderer: o.renderer ?? 'silent', frozen: !!o.frozen });
  const steps = built.targets[0]!.steps;
  const dist = path.join(config.outDir, targetSlug(target.name));
  const manifest = JSON.parse(await readFile(path.join(dist, 'manifest.json'), 'utf8')) as Manifest;
  if (!manifest.qemu) throw new BuildError(`${dist}/manifest.json has no QEMU command line`);
  const ports = await readRouterConf(path.join(dist, 'overlay'));

  const id = o.labId ?? randomBytes(3).toString('hex');
  const taps = { lan: `fwl${id}`, wan: `fww${id}` };
  const argv = [
    ...manifest.qemu.argv.map((a) => a.replace(TAP.lan, taps.lan).replace(TAP.wan, taps.wan).replace(/^(kernel|image)\//, `${dist}/$1/`)),
    ...(o.qemuArgs ?? []),
  ];
  const consoleLog = path.join(config.logDir, targetSlug(target.name), 'test-console.log');
  const made: Netns[] = [];
  let router: QemuRouter | undefined;
  try {
    const [hostNs, lanNs, wanNs] = [
      await Netns.create(`${LAB_PREFIX}${id}-qemu`),
      await Netns.create(`${LAB_PREFIX}${id}-lan`),
      await Netns.create(`${LAB_PREFIX}${id}-wan`),
    ];
    made.push(hostNs, lanNs, wanNs);
    for (const t of Object.values(taps)) await hostNs.ip('tuntap', 'add', 'dev', t, 'mode', 'tap');
    say(`booting ${target.name}: ${argv.join(' ')}`);
    router = await QemuRouter.start(argv, { netns: hostNs.name, consoleLog });
    // QEMU opens its tap devices before the guest runs: first console output means they are held
    await router.waitForLine(() => true, `${target.name}: QEMU started`, 30_000, signal);
    // the client reaches everything through the router; the server only needs the LAN back
    await plugTap(hostNs, lanNs, taps.lan, ports.lan, { ipv4: 'default', ipv6: 'default' });
    await plugTap(hostNs, wanNs, taps.wan, ports.wan, ports.lan.subnet);

    const lines: RunnerLine[] = [];
    let firstPrediction: number | null = null;
    router.onLine((l) => {
      // the shell's prompt can precede a line on the shared console
      const at = l.indexOf('{"');
      if (at < 0) return;
      try {
        const j = JSON.parse(l.slice(at)) as RunnerLine;
        lines.push(j);
        // either model's first answer
        if (firstPrediction === null && j.flow && (j.prediction != null || j.kernel)) firstPrediction = (Date.now() - router!.startedAt) / 1000;
      } catch {
        // a JSON line cut by a console write from elsewhere: counted as missing data below
      }
    });
    const readyLine = await router.waitForLine(
      (l) => l.includes('{"ready":true'),
      `${target.name}: waiting for fwrunner's ready line on the serial console`,
      (o.bootTimeout ?? 300) * 1000,
      signal,
      // the guest's init script prints this when the runner ends, e.g. on a refused program
      (l) => l.includes('fwrunner: exited with status'),
    );
    const ready = JSON.parse(readyLine.slice(readyLine.indexOf('{'))) as { programs: number; jited: number; window: number; loadMs: number; kernelModel?: boolean };
    const use = INFERENCE[config.inference];
    const bootSeconds = (Date.now() - router.startedAt) / 1000;
    await router.waitForLine((l) => l.startsWith('rcS: up:'), `${target.name}: rcS did not finish`, 60_000, signal);
    say(`${target.name}: runner ready after ${bootSeconds.toFixed(1)} s (${ready.jited} of ${ready.programs} programs JIT-compiled, loaded and verified in ${ready.loadMs} ms)`);
    await o.onReady?.({ router, lan: lanNs, wan: wanNs, ports, signal });

    // the in-kernel model answers a flow's window when a packet of it comes after the window's
    // end: the UDP stream then lasts a window and 2 s more
    const expected = await sendTraffic(lanNs, wanNs, ports, signal, ready.kernelModel ? ready.window * 1000 + 2000 : 0);
    say(`${target.name}: traffic sent; waiting for the runner's windows`);
    // The runner reports each window's deltas: wait until every flow adds up, or until two
    // window summaries after the traffic (the window it ended in, and a whole one after it).
    const summariesBefore = lines.filter((l) => l.summary).length;
    const deadline = Date.now() + (3 * ready.window + 10) * 1000;
    let checks = checkFlows(expected.flows, lines);
    while (!checks.every((c) => c.ok) && lines.filter((l) => l.summary).length < summariesBefore + 2 && Date.now() < deadline) {
      await sleep(500, signal);
      checks = checkFlows(expected.flows, lines);
    }
    const status = await router.run('grep -E "^Vm(HWM|RSS)" /proc/$(cat /var/run/fwrunner.pid)/status', 30_000, signal);
    const kb = (key: string): number | null => {
      const m = status.output.map((l) => new RegExp(`^${key}:\\s+(\\d+) kB`).exec(l)).find(Boolean);
      return m ? Number(m[1]) : null;
    };

    const flowLines = lines.filter((l) => l.flow);
    const predictions = flowLines.filter((l) => l.prediction != null);
    const kernelLines = flowLines.filter((l) => l.kernel);
    const reference = use.quickjs ? referenceModel(await readFile(config.model, 'utf8')) : () => null;
    // in the runner's order: a model may keep state per flow across windows
    const matching = predictions.filter((l) => JSON.stringify(reference(l.features ?? {}, l.flow)) === JSON.stringify(l.prediction));
    const ours = new Set(checks.map((c) => flowId(c)));
    const extra = new Set(flowLines.map((l) => flowId(l.flow!)).filter((k) => !ours.has(k))).size;
    const failures = [
      ...checks.filter((c) => !c.ok).map((c) =>
        c.seen
          ? `${c.name}: runner saw ${c.seen.up} B up / ${c.seen.down} B down, sent ${c.expected.up} / ${c.expected.down}`
          : `${c.name}: the runner never reported this flow`,
      ),
      ...(use.quickjs && predictions.length < flowLines.length ? [`${flowLines.length - predictions.length} flow lines have no prediction`] : []),
      ...(!use.quickjs && predictions.length > 0 ? [`${predictions.length} flow lines have a QuickJS prediction, but the image was built without the QuickJS model`] : []),
      ...(ready.kernelModel !== (use.bpfGoal !== 'all') ? [`the runner says kernelModel ${ready.kernelModel}, but the image was built for inference "${config.inference}"`] : []),
      ...(ready.kernelModel && kernelLines.length === 0 ? ['the in-kernel model gave no answer for any flow'] : []),
      ...(matching.length < predictions.length
        ? [`${predictions.length - matching.length} predictions differ from Node.js running the same model on the same features`]
        : []),
      ...(ready.jited < ready.programs ? [`only ${ready.jited} of ${ready.programs} BPF programs were JIT-compiled`] : []),
    ];
    const sum = (f: (c: FlowCheck) => number): number => checks.reduce((a, c) => a + f(c), 0);
    return {
      ok: failures.length === 0,
      target: target.name,
      consoleLog,
      build: { ran: steps.filter((s) => s.status === 'ran').map((s) => s.name), cached: steps.filter((s) => s.status === 'cached').length, seconds: built.seconds },
      bootSeconds,
      firstPredictionSeconds: firstPrediction,
      runner: { programs: ready.programs, jited: ready.jited, window: ready.window, loadMs: ready.loadMs, vmHwmKb: kb('VmHWM'), vmRssKb: kb('VmRSS') },
      hooks: lines.filter((l) => l.summary).at(-1)?.summary?.hooks ?? null,
      flows: { expected: checks.length, seen: checks.filter((c) => c.seen).length, extra, checks },
      bytes: {
        expected: { up: sum((c) => c.expected.up), down: sum((c) => c.expected.down) },
        seen: { up: sum((c) => c.seen?.up ?? 0), down: sum((c) => c.seen?.down ?? 0) },
      },
      predictions: {
        lines: flowLines.length,
        withPrediction: predictions.length,
        matchingReference: matching.length,
        sample: predictions.slice(0, 3).map((l) => l.prediction),
      },
      kernel: ready.kernelModel
        ? { lines: kernelLines.length, windows: Math.max(0, ...kernelLines.map((l) => l.kernel!.windows)), sample: kernelLines.slice(0, 3).map((l) => l.kernel) }
        : null,
      udp: expected.udp,
      failures,
      seconds: (Date.now() - started) / 1000,
    };
  } catch (e) {
    if (signal.aborted) throw new InterruptedError('SIGINT');
    throw e;
  } finally {
    await router?.stop();
    for (const ns of made.reverse()) await ns.remove();
  }
}

/** Moves a tap QEMU holds into `to`, gives it the peer address, and routes `dest` through the router's port. */
async function plugTap(from: Netns, to: Netns, tap: string, port: Port, dest: { ipv4: string; ipv6: string }): Promise<void> {
  await from.ip('link', 'set', 'dev', tap, 'netns', to.name);
  await to.exec('sysctl', ['-qw', `net.ipv6.conf.${tap}.accept_ra=0`]);
  await to.ip('link', 'set', 'dev', tap, 'up');
  await to.ip('addr', 'add', `${port.peer.ipv4}/${port.ipv4.prefix}`, 'dev', tap);
  await to.ip('-6', 'addr', 'add', `${port.peer.ipv6}/${port.ipv6.prefix}`, 'dev', tap, 'nodad');
  await to.ip('route', 'add', dest.ipv4, 'via', port.ipv4.address);
  await to.ip('-6', 'route', 'add', dest.ipv6, 'via', port.ipv6.address);
}

type Expected = Omit<FlowCheck, 'seen' | 'ok'>;

async function sendTraffic(
  lan: Netns,
  wan: Netns,
  ports: RouterPorts,
  signal: AbortSignal,
  /** the UDP stream lasts at least this long (its packets spaced out to fill it) */
  udpMinMs = 0,
): Promise<{ flows: Expected[]; udp: { sent: number; received: number } }> {
  const client = ports.lan.peer;
  const server = ports.wan.peer;
  const flows: Expected[] = [];
  await withListener(
    wan.name,
    ['tcp-serve', '::', String(SERVER_PORT), String(PLAN.downloads.length)],
    async () => {
      for (const d of PLAN.downloads) {
        const to = d.family === 4 ? server.ipv4 : server.ipv6;
        const [got] = (await traffic(lan.name, ['tcp-get', to, String(SERVER_PORT), String(d.bytes)], { signal, timeoutMs: 180_000 })) as {
          received: number;
          request: number;
          local: number;
        }[];
        if (got!.received !== d.bytes) throw new BuildError(`${d.name}: the client received ${got!.received} B of ${d.bytes}`);
        flows.push({
          name: d.name,
          proto: TCP,
          client: d.family === 4 ? client.ipv4 : client.ipv6,
          clientPort: got!.local,
          server: to,
          serverPort: SERVER_PORT,
          expected: { up: got!.request, down: d.bytes },
        });
      }
    },
    { signal, timeoutMs: 240_000 },
  );
  const u = { ...PLAN.udp, gapMs: Math.max(PLAN.udp.gapMs, Math.ceil(udpMinMs / PLAN.udp.count)) };
  const { listener, result } = await withListener(
    lan.name,
    ['udp-recv', client.ipv4, String(u.clientPort), String(u.count), String(u.count * u.gapMs + 10_000)],
    () => traffic(wan.name, ['udp-send', client.ipv4, String(u.clientPort), String(u.count), String(u.size), String(u.serverPort), String(u.gapMs)], { signal }),
    { signal },
  );
  const sent = result[0] as { sent: number; bytes: number };
  const got = listener.at(-1) as { packets: number; bytes: number };
  flows.push({
    name: u.name,
    proto: UDP,
    client: client.ipv4,
    clientPort: u.clientPort,
    server: server.ipv4,
    serverPort: u.serverPort,
    // the router counts at its LAN port what it forwarded: what the client received
    expected: { up: 0, down: got.bytes },
  });
  return { flows, udp: { sent: sent.sent, received: got.packets } };
}

const flowId = (f: { proto: number; client: string; clientPort: number; server: string; serverPort: number }): string =>
  `${f.proto} ${f.client}:${f.clientPort} ${f.server}:${f.serverPort}`;

function checkFlows(expected: Expected[], lines: RunnerLine[]): FlowCheck[] {
  return expected.map((e) => {
    const mine = lines.filter((l) => l.flow && flowId(l.flow) === flowId(e));
    if (mine.length === 0) return { ...e, seen: null, ok: false };
    const total = (k: string): number => mine.reduce((a, l) => a + ((l.features ?? l.counts)?.[k] ?? 0), 0);
    const seen = {
      up: total('upStreamBytes'),
      down: total('downStreamBytes'),
      windows: mine.length,
    };
    return { ...e, seen, ok: seen.up === e.expected.up && seen.down === e.expected.down };
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new InterruptedError('SIGINT'));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new InterruptedError('SIGINT'));
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
