import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../builder/config/load.js';
import { connectEngine } from '../builder/docker/engine.js';
import { BUILD_UID, StepContainer, type Mount } from '../builder/docker/step-container.js';
import { ensureToolchain } from '../builder/docker/toolchain.js';
import { prepareNpmSource, type NpmSource } from '../builder/sources/npm-source.js';
import { resolveEpoch } from '../builder/util/epoch.js';
import { projectPath } from '../builder/util/paths.js';
import { chownTree } from '../builder/util/publish.js';
import { StepLog } from '../builder/util/steplog.js';

export interface BpfTools {
  object: string;
  /** the same programs with the in-kernel model (bpf/fw_window.bpf.h) */
  forestObject: string;
  harness: string;
  /** fwrunner for this host (x86_64), same sources as the targets' */
  runner: string;
  /** the same built without QuickJS (QUICKJS=0), as for inference "kernel" */
  leanRunner: string;
  dir: string;
}

/**
 * Compiles bpf/ for the host's byte order (bpfel), the libbpf harness and a host fwrunner, in
 * the same toolchain image and container setup a build uses. `signal` stops the build and
 * removes its container (the lab passes its Ctrl-C); a failed or stopped build removes its dir.
 */
export async function buildBpfTools(bpfTarget: 'bpfel' | 'bpfeb' = 'bpfel', signal = new AbortController().signal): Promise<BpfTools> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-bpf-'));
  const out = path.join(dir, 'out');
  try {
    await mkdir(out);
    const cacheDir = path.join(projectPath(), '.fwbuild-cache');
    const quickjs = await prepareNpmSource(
      JSON.parse(await readFile(projectPath('runner', 'quickjs.json'), 'utf8')) as NpmSource,
      cacheDir,
      signal,
    );
    await inToolchain(dir, 'bpf-tools', signal,
      `make -C /src/bpf OUT=/out BPF_TARGET=${bpfTarget} all forest harness lab && ` +
        'make -j2 -C /src/runner QUICKJS_SRC=/deps/quickjs OUT=/out WORK=/tmp/work && ' +
        'make -j2 -C /src/runner QUICKJS=0 OUT=/out/lean WORK=/tmp/work-lean', [
      { host: projectPath('runner'), container: '/src/runner', readOnly: true },
      { host: quickjs, container: '/deps/quickjs', readOnly: true },
    ]);
  } catch (e) {
    // a failed or stopped build leaves no half-built tools behind
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return { object: path.join(out, 'fw_flows.bpf.o'), forestObject: path.join(out, 'fw_flows_forest.bpf.o'), harness: path.join(out, 'bpf_harness'), runner: path.join(out, 'fwrunner'), leanRunner: path.join(out, 'lean', 'fwrunner'), dir };
}

/** Another project's TC program for bench:bpf's side-by-side: a name and its C source file. */
export interface OtherProgram {
  name: string;
  source: string;
}

/**
 * Compiles other projects' TC programs for the host (bpfel) with bpf/Makefile's `other` target,
 * each source's folder mounted read-only: their code is read where it lies, never copied into
 * the project. Returns each name's object, in `tools.dir`.
 */
export async function buildOtherPrograms(tools: BpfTools, others: OtherProgram[], signal = new AbortController().signal): Promise<Record<string, string>> {
  const objects: Record<string, string> = {};
  const mounts: Mount[] = [];
  const cmds: string[] = [];
  others.forEach((o, i) => {
    const folder = `/ext/${i}`;
    mounts.push({ host: path.dirname(path.resolve(o.source)), container: folder, readOnly: true });
    cmds.push(`make -C /src/bpf OUT=/out other OTHER_SRC=${folder}/${path.basename(o.source)} OTHER_OUT=/out/other/${o.name}.bpf.o`);
    objects[o.name] = path.join(tools.dir, 'out', 'other', `${o.name}.bpf.o`);
  });
  if (cmds.length) await inToolchain(tools.dir, 'bpf-other', signal, cmds.join(' && '), mounts);
  return objects;
}

/** Runs `cmd` in the toolchain image a build uses, bpf/ at /src/bpf and `dir`/out at /out. */
async function inToolchain(dir: string, step: string, signal: AbortSignal, cmd: string, mounts: Mount[]): Promise<void> {
  const out = path.join(dir, 'out');
  if (process.getuid?.() === 0) await chownTree(out, BUILD_UID, BUILD_UID);
  const config = await loadConfig({ cwd: dir, env: {}, overrides: { logDir: path.join(dir, 'logs') } });
  const docker = await connectEngine();
  const cacheDir = path.join(projectPath(), '.fwbuild-cache');
  const { toolchain } = await ensureToolchain(docker, { ...config, cacheDir }, {
    signal,
    sourceDateEpoch: resolveEpoch(undefined).value,
  });
  const log = await StepLog.open(path.join(dir, 'logs'), 'host', step);
  await new StepContainer(docker, `${step}-${path.basename(dir)}`, signal).run(
    {
      step,
      scope: 'host',
      image: toolchain.ref,
      cmd: ['sh', '-c', cmd],
      mounts: [
        { host: projectPath('bpf'), container: '/src/bpf', readOnly: true },
        ...mounts,
        { host: out, container: '/out', readOnly: false },
      ],
    },
    log,
  );
}

export interface HookCounters {
  packets: number;
  bytes: number;
  ipv4: number;
  ipv6: number;
  nonIp: number;
  fragments: number;
  truncated: number;
  flowsCreated: number;
  flowFailed: number;
  /** wire packets of one-packet-so-far flows pushed out of their pending slot (fw_maps.h) */
  displaced: number;
  displacedBytes: number;
}

export interface DirStats {
  packets: number;
  bytes: number;
  payloadBytes: number;
  firstNs: number;
  lastNs: number;
  sizeHist: number[];
  iatHist: number[];
  tcpFlags: number;
  retrans: number;
  retransBytes: number;
  gaps: number;
  streamBytes: number;
}

export interface Flow {
  family: 4 | 6;
  proto: number;
  vlan: number;
  a: string;
  portA: number;
  b: string;
  portB: number;
  client: 'a' | 'b';
  ifindex: number;
  up: DirStats;
  down: DirStats;
  segCount: number;
  segments: { startNs: number; endNs: number; upBytes: number; downBytes: number; downPackets: number }[];
  /** end of each of the flow's first four segments (0: not started) */
  earlyEndNs: number[];
}

/** The in-kernel model's answer for a flow's newest ended window (struct fw_window). */
export interface WindowAnswer {
  proto: number;
  a: string;
  portA: number;
  b: string;
  portB: number;
  windows: number;
  resolution: number;
  confidencePct: number;
  /** the flow's second response's end, ms from its first packet; 0: not yet */
  startupMs: number;
  endNs: number;
  /** the selected inputs of the newest ended window (FW_FOREST_SEL_MAX, zero past the model's) */
  keep0: number[];
  /** the same of the window before */
  keep1: number[];
}

export interface MapDump {
  /** flows whose only packet so far waited in a pending slot at the dump (recorded unless kept) */
  parked: number;
  counters: { ingress: HookCounters; egress: HookCounters };
  /** with the in-kernel model only */
  windows?: WindowAnswer[];
  /** the inputs of the last window closed on the CPU `run` used (fw_forest.h's enum fw_kf order) */
  lastInputs?: number[];
  flows: Flow[];
}

/** A pause between packets: windows of the in-kernel model end in real time. */
export interface Wait {
  waitMs: number;
}

export interface TestPacket {
  hook: 'in' | 'eg';
  data: Buffer;
  /** defaults: lo (always present), no GSO */
  ifindex?: number;
  gsoSegs?: number;
  gsoSize?: number;
}

export interface HarnessOptions {
  /** Which programs: fw_lan_* (ingress is upstream) or fw_wan_* (egress is upstream). */
  role?: 'lan' | 'wan';
  maxFlows?: number;
  /** 'keep': dump without recording the flows parked in pending slots (default: record them) */
  pending?: 'keep' | 'flush';
  /** the in-kernel model's window (default 10 s, as it was trained) */
  windowMs?: number;
  /** default tools.object */
  object?: string;
}

const optionArgs = (o: HarnessOptions): string[] => [
  ...(o.role ? ['--role', o.role] : []),
  ...(o.pending ? ['--pending', o.pending] : []),
  ...(o.maxFlows ? ['--max-flows', String(o.maxFlows)] : []),
  ...(o.windowMs ? ['--window-ms', String(o.windowMs)] : []),
];

/** Runs the harness with `lines` on its stdin (written as the pipe drains): its stdout and stderr. */
function harness(tools: BpfTools, args: string[], lines: Iterable<string>): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tools.harness, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bpf_harness ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      resolve({ stdout, stderr });
    });
    void (async () => {
      for (const line of lines) {
        if (!child.stdin.write(line)) await new Promise((r) => child.stdin.once('drain', r));
      }
      child.stdin.end();
    })();
  });
}

/** Loads the object fresh (empty maps), runs every packet through BPF_PROG_TEST_RUN, dumps the maps. */
export async function runPackets(tools: BpfTools, packets: Iterable<TestPacket | Wait>, o: HarnessOptions = {}): Promise<MapDump & { stderr: string }> {
  function* lines(): Generator<string> {
    for (const p of packets) {
      yield 'waitMs' in p ? `wait ${p.waitMs}\n` : `${p.hook} ${p.ifindex ?? 1} ${p.gsoSegs ?? 0} ${p.gsoSize ?? 0} ${p.data.toString('hex')}\n`;
    }
  }
  const { stdout, stderr } = await harness(tools, [...optionArgs(o), o.object ?? tools.object, 'run'], lines());
  return { ...(JSON.parse(stdout) as MapDump), stderr };
}

/**
 * The kernel's mean ns per run of `prog` in `object` (any TC object, loaded fresh with empty
 * maps) over `packets` (hex frames), each run `repeat` times in one BPF_PROG_TEST_RUN call.
 */
export async function benchProgram(tools: BpfTools, object: string, prog: string, packets: string[], repeat: number, o: HarnessOptions = {}): Promise<{ runs: number; meanNs: number }> {
  const { stdout } = await harness(tools, [...optionArgs(o), object, 'bench', prog, String(repeat)], packets.map((p) => `${p}\n`));
  return JSON.parse(stdout) as { runs: number; meanNs: number };
}

/** What `fwrunner bench-bpf` prints (runner/src/bench_bpf.c): ns per packet beside an empty program, and load times. */
export interface BenchBpfResult {
  jitEnable: number;
  programs: number;
  jited: number;
  loadAllNs: number;
  loadOneNs: number;
  existingFlow: { ns: number; emptyNs: number };
  newFlow: { ns: number; emptyNs: number };
  /** the same new flows' second packets, which record them (the first waited in a pending slot) */
  newFlowSecond: { ns: number; emptyNs: number };
  nonIp: { ns: number; emptyNs: number };
  /** with the in-kernel model: one run of fw_forest_eval on a row of inputs */
  forestPrediction?: { ns: number; emptyNs: number };
}

/**
 * The verifier's processed instructions per program. `strictAlignment`: packet accesses checked
 * as on a CPU without efficient unaligned access (MIPS), which x86 does not do by itself.
 */
export function verifierStats(tools: BpfTools, object = tools.object, o: { strictAlignment?: boolean } = {}): Promise<Record<string, number>> {
  const mode = o.strictAlignment ? 'verifier-stats-strict' : 'verifier-stats';
  return new Promise((resolve, reject) => {
    execFile(tools.harness, [object, mode], (e, stdout, stderr) => {
      if (e) return reject(new Error(`bpf_harness ${mode}: ${stderr.slice(-2000) || e.message}`));
      resolve(JSON.parse(stdout) as Record<string, number>);
    });
  });
}

/** Attaches to real interfaces (inside `netns` when given) until stop() is called; then the dump. */
export async function attach(tools: BpfTools, ifaces: string[], o: HarnessOptions & { netns?: string } = {}) {
  const args = [...optionArgs(o), tools.object, 'attach', ...ifaces];
  const child = o.netns
    ? spawn('ip', ['netns', 'exec', o.netns, tools.harness, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(tools.harness, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((r) => child.on('close', r));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`harness not ready: ${stderr}`)), 20_000);
    const check = (): void => {
      if (stdout.startsWith('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    void closed.then((code) => reject(new Error(`harness exited ${code}: ${stderr}`)));
  });
  return {
    async stop(): Promise<MapDump> {
      child.stdin.end();
      const code = await closed;
      if (code !== 0) throw new Error(`bpf_harness exited ${code}: ${stderr}`);
      return JSON.parse(stdout.slice('ready\n'.length)) as MapDump;
    },
  };
}

/**
 * Runs `prog` of `object` once per row through BPF_PROG_TEST_RUN, the row as its packet (32-bit
 * words in this CPU's byte order): the program's return values, in order.
 */
export async function evalRows(tools: BpfTools, object: string, prog: string, rows: number[][]): Promise<number[]> {
  const { stdout } = await harness(tools, [object, 'eval', prog], rows.map((r) => `${r.join(' ')}\n`));
  return stdout.trim().split('\n').filter(Boolean).map(Number);
}
