/**
 * What the toolkit costs each router platform, measured on the platform (issue 21). Prints
 * figures and writes docs/platforms.md (+ docs/platforms-*.png); never passes or fails on them.
 *   node --import=tsx bench/platforms.ts [--target qemu-mips …] [--json FILE] [--from FILE]
 * (--from: the report and plots again from the data of an earlier run, nothing measured)
 * Each virtual router boots under `-icount shift=0`: QEMU's virtual clock then advances one
 * nanosecond per guest instruction, so the guest's own clock counts instructions. That claim is
 * checked first on every CPU: a loop's instructions counted under qemu-user against the guest's
 * nanoseconds over the same loop. In the guest (see runner/src/bench_bpf.c):
 *   - the BPF programs' cost per packet through BPF_PROG_TEST_RUN beside a program that only
 *     returns, JIT on and off, and the load (verification + JIT) of the four Ethernet-port programs;
 *   - the runner's window from features to output for 0, 10, 100 and 1,000 flows, with the
 *     shipped model and with a model that returns at once (the difference is predict()), and
 *     its peak memory (busybox time);
 *   - forwarding through the router with and without the toolkit attached, as a ratio of one
 *     run (TCG makes the absolute rate meaningless);
 * then `fwbuild test`'s own boot-to-first-prediction and the share of a real CPU.
 * Needs root, Docker, qemu-system, qemu-user-static and python3-matplotlib (scripts/host-setup).
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { isVirtualRouter, loadCatalog, loadConfig, testRouter, twinOf, type RouterLab } from '../builder/index.js';
import { projectPath, targetSlug } from '../builder/util/paths.js';
import { traffic, withListener } from '../builder/vrouter/traffic.js';
import type { BenchBpfResult as BpfBench } from '../devkit/bpf.js';
import { interruptSignal } from '../devkit/interrupt.js';
import { guest, jsonLine, windowCost } from '../devkit/guest.js';
import { qemuInstructions } from '../devkit/qemu-user.js';

const execFileP = promisify(execFile);

/**
 * The real CPU each virtual router stands for (its OpenWrt twin's SoC). Clock and
 * instructions per cycle are assumptions, stated in the report: in-order single-issue MIPS cores
 * lose cycles to cache misses and branches (0.7); the Cortex-A7 dual-issues a little (0.8); the
 * Cortex-A53 more (1.0). The share scales with 1/IPC, so the reader can redo it.
 */
const REAL_CPU: Record<string, { soc: string; core: string; mhz: number; ipc: number }> = {
  'ath79/generic': { soc: 'QCA9558 (TP-Link Archer C7 v2)', core: 'MIPS 24Kc', mhz: 720, ipc: 0.7 },
  'ramips/mt7621': { soc: 'MT7621A', core: 'MIPS 1004Kc (one of 4 threads)', mhz: 880, ipc: 0.7 },
  'ipq40xx/generic': { soc: 'IPQ4019', core: 'ARM Cortex-A7 (one of 4)', mhz: 717, ipc: 0.8 },
  'mediatek/filogic': { soc: 'MT7981B', core: 'ARM Cortex-A53 (one of 2)', mhz: 1300, ipc: 1.0 },
};
const RATES = [10_000, 50_000, 100_000];
const FLOWS = 1000;
const WINDOW_FLOWS = [0, 10, 100, 1000];
const LOOP = 300_000;
const USER_FLOWS = 10;
const SERVER_PORT = 8081;
const DOWNLOAD = 8_000_000;

interface PlatformRow {
  target: string;
  twin: string | null;
  calibration: { loopInsns: number; guestNs: number; ratio: number };
  bpf: { jit: BpfBench; interpreter: BpfBench | string };
  window: Record<number, { modelNs: number; noopNs: number; peakKb: number | null }>;
  /** the same window's user-space instructions counted by qemu-user (no kernel, no FPU traps), per flow */
  userInsnsPerFlow: number;
  /** floating-point instructions the guest kernel emulated per flow of that window (MIPS cores without FPU); null where the kernel has no such counter */
  fpEmulatedPerFlow: number | null;
  forwarding: { bytes: number; withMs: number[]; withoutMs: number[]; ratio: number } | { error: string };
  readySeconds: number;
  readyLoadMs: number;
  testOk: boolean;
  testFailures: string[];
}

async function bpfBench(lab: RouterLab): Promise<BpfBench> {
  return jsonLine<BpfBench>(await guest(lab, 'out=$(fwrunner bench-bpf --repeat 2000 --new-flows 500) && echo "bench: $out"'), 'bpfBench');
}

/** ms for one download of `bytes` from the WAN server to the LAN client through the router. */
async function download(lab: RouterLab, bytes: number): Promise<number> {
  const { result } = await withListener(
    lab.wan.name,
    ['tcp-serve', '::', String(SERVER_PORT), '1'],
    () => traffic(lab.lan.name, ['tcp-get', lab.ports.wan.peer.ipv4, String(SERVER_PORT), String(bytes)], { signal: lab.signal, timeoutMs: 180_000 }),
    { signal: lab.signal, timeoutMs: 200_000 },
  );
  const got = result[0] as { received: number; ms: number };
  if (got.received !== bytes) throw new Error(`download: received ${got.received} of ${bytes} B`);
  return got.ms;
}

/** Waits for a runner ready line that arrives after this call. */
function nextReady(lab: RouterLab, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`the restarted runner printed no ready line in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const off = lab.router.onLine((l) => {
      if (l.includes('{"ready":true')) {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  });
}

async function measure(lab: RouterLab, qemuUser: string, runner: string, say: (s: string) => void): Promise<Omit<PlatformRow, 'target' | 'twin' | 'readySeconds' | 'readyLoadMs' | 'testOk' | 'testFailures'>> {
  // 1. Is a guest nanosecond one instruction? The loop counted by qemu-user, timed in the guest.
  const loopInsns = (await qemuInstructions(qemuUser, [runner, 'bench-loop', String(LOOP)])) - (await qemuInstructions(qemuUser, [runner, 'bench-loop', '0']));
  const guestNs = jsonLine<{ ns: number }>(await guest(lab, `out=$(fwrunner bench-loop ${LOOP}) && echo "bench: $out"`), 'loop').ns;
  say(`calibration: loop ${loopInsns} instructions (qemu-user), ${guestNs} guest ns`);

  // 2. BPF per packet and load, JIT on, then off where the kernel allows it.
  const jit = await bpfBench(lab);
  let interpreter: BpfBench | string;
  const off = await lab.router.run('echo 0 >/proc/sys/net/core/bpf_jit_enable', 10_000, lab.signal);
  if (off.status === 0) {
    interpreter = await bpfBench(lab);
    await guest(lab, 'echo 1 >/proc/sys/net/core/bpf_jit_enable');
  } else {
    interpreter = `the kernel refuses bpf_jit_enable=0 (CONFIG_BPF_JIT_ALWAYS_ON): ${off.output.join(' ')}`;
  }
  say(`bpf: existing flow ${jit.existingFlow.ns - jit.existingFlow.emptyNs} instructions over empty (JIT)`);

  // 3. The runner's window, with the shipped model and with one that returns at once.
  await guest(lab, `echo 'function predict(f) { return 0; }' >/tmp/noop.js`);
  const window: PlatformRow['window'] = {};
  for (const n of WINDOW_FLOWS) {
    const model = await windowCost(lab, n, '/usr/share/fwrunner/model.qbc');
    const noop = await windowCost(lab, n, '/tmp/noop.js');
    window[n] = { modelNs: model.ns, noopNs: noop.ns, peakKb: model.peakKb };
  }
  // The same window's user-space instructions under qemu-user (the built model.qbc of this target).
  const model = path.join(path.dirname(runner), '..', 'model', 'model.qbc');
  const userWindow = async (n: number): Promise<number> =>
    qemuInstructions(qemuUser, [runner, 'bench-window', '--flows', String(n), '--model', model, '--output', '/dev/null']);
  const userInsnsPerFlow = ((await userWindow(USER_FLOWS)) - (await userWindow(0))) / USER_FLOWS;
  // A core without FPU runs hard-float code through the kernel's emulator: count what it did.
  const fpCount = async (): Promise<number | null> => {
    const r = await lab.router.run('mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null; cat /sys/kernel/debug/mips/fpuemustats/emulated', 10_000, lab.signal);
    return r.status === 0 && /^\d+$/.test(r.output.at(-1) ?? '') ? Number(r.output.at(-1)) : null;
  };
  const fpBefore = await fpCount();
  await windowCost(lab, 100, '/usr/share/fwrunner/model.qbc');
  const fpAfter = await fpCount();
  const fpEmulatedPerFlow = fpBefore === null || fpAfter === null ? null : (fpAfter - fpBefore) / 100;
  say(`runner: ${Math.round((window[100]!.modelNs - window[0]!.modelNs) / 100)} instructions per flow in the guest, ${Math.round(userInsnsPerFlow)} in user space (qemu-user), FP emulated per flow: ${fpEmulatedPerFlow}`);

  // 4. Forwarding with and without the toolkit: 2 downloads with, 4 without, 2 with, so that a
  //    drift of the machine cancels out. A download that fails is reported, not fatal.
  const withMs: number[] = [];
  const withoutMs: number[] = [];
  let forwarding: PlatformRow['forwarding'];
  let stopped = false;
  try {
    for (let i = 0; i < 2; i++) withMs.push(await download(lab, DOWNLOAD));
    await guest(lab, '/etc/init.d/fwrunner stop; sleep 2');
    stopped = true;
    for (let i = 0; i < 4; i++) withoutMs.push(await download(lab, DOWNLOAD));
  } catch (e) {
    forwarding = { error: `${(e as Error).message} (with: ${withMs.join(', ')} ms; without: ${withoutMs.join(', ')} ms)` };
  }
  if (stopped) {
    const ready = nextReady(lab, 600_000);
    await guest(lab, 'FWRUNNER_LOG=/dev/console /etc/init.d/fwrunner start');
    await ready;
  }
  forwarding ??= await (async () => {
    try {
      for (let i = 0; i < 2; i++) withMs.push(await download(lab, DOWNLOAD));
    } catch (e) {
      return { error: `${(e as Error).message} (with: ${withMs.join(', ')} ms; without: ${withoutMs.join(', ')} ms)` };
    }
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    // time ratio without/with = rate ratio with/without
    return { bytes: DOWNLOAD, withMs, withoutMs, ratio: mean(withoutMs) / mean(withMs) };
  })();
  return { calibration: { loopInsns, guestNs, ratio: guestNs / loopInsns }, bpf: { jit, interpreter }, window, userInsnsPerFlow, fpEmulatedPerFlow, forwarding };
}

const over = (c: { ns: number; emptyNs: number }): number => Math.round(c.ns - c.emptyNs);

/** Instructions per second the toolkit needs at `pps` packets per second over `FLOWS` flows. */
function insnsPerSecond(r: PlatformRow, pps: number, window: number, userSpaceRunner = false): number {
  const perPacket = over(r.bpf.jit.existingFlow);
  const perWindow = userSpaceRunner ? r.userInsnsPerFlow * FLOWS : r.window[FLOWS]!.modelNs - r.window[0]!.modelNs;
  return pps * perPacket + perWindow / window;
}

function report(rows: PlatformRow[], window: number, when: string): string {
  const L: string[] = [];
  L.push('# What the toolkit costs each router platform', '');
  L.push(
    `Written by \`npm run bench:platforms\` (${when}). Every figure is measured inside the virtual router of each CPU, booted under QEMU with \`-icount shift=0\`, where the guest's clock advances one nanosecond per guest instruction: "instructions" below are the guest clock's nanoseconds. The calibration row checks that claim on each CPU (a loop's instructions counted by qemu-user against the guest's nanoseconds over the same loop; 1.00 means exact, above 1 the timer interrupts the loop took).`,
    '',
    'BPF per packet: `BPF_PROG_TEST_RUN` of `fw_lan_ingress` in the guest kernel, minus a program that only returns, run the same way (existing flow: one packet repeated 2,000 times; new flow: 500 packets of flows never seen, one run each, which wait in a pending slot; its second packet: the same 500 packets once more, which record the flows, except the fifth or so whose slot another flow took; non-IP: an ARP frame). Load: open, verify and JIT the four programs of a router that watches a LAN and a WAN Ethernet port (the ready-line row below: the two programs of the LAN port alone, at boot). Runner: one window from the flow records to the output lines (`fwrunner bench-window`), with the shipped model and with a model that returns at once; the difference is the model. Forwarding: 8 MB downloads from the WAN side to the LAN side through the router, 4 with the toolkit attached and 4 after its runner stopped (filters detached), in one boot; the time of every download is in the row, and under TCG they spread widely (up to 1.7 times on one router in one boot): a ratio is no finer than that spread.',
    '',
  );
  L.push('| | ' + rows.map((r) => `${r.target}${r.twin ? ` (${r.twin})` : ''}`).join(' | ') + ' |');
  L.push('|---|' + rows.map(() => '---:').join('|') + '|');
  const row = (name: string, f: (r: PlatformRow) => string): void => void L.push(`| ${name} | ${rows.map(f).join(' | ')} |`);
  const n = (x: number): string => Math.round(x).toLocaleString('en-US');
  const interp = (r: PlatformRow, f: (b: BpfBench) => string): string => (typeof r.bpf.interpreter === 'string' ? 'JIT always on' : f(r.bpf.interpreter));
  row('calibration: guest ns per counted instruction', (r) => r.calibration.ratio.toFixed(3));
  row('BPF existing flow, instructions over empty (JIT)', (r) => n(over(r.bpf.jit.existingFlow)));
  row('BPF new flow (JIT)', (r) => n(over(r.bpf.jit.newFlow)));
  row('BPF new flow, its second packet (JIT)', (r) => (r.bpf.jit.newFlowSecond ? n(over(r.bpf.jit.newFlowSecond)) : 'not measured'));
  row('BPF non-IP (JIT)', (r) => n(over(r.bpf.jit.nonIp)));
  row('BPF existing flow (interpreter)', (r) => interp(r, (b) => n(over(b.existingFlow))));
  row('BPF new flow (interpreter)', (r) => interp(r, (b) => n(over(b.newFlow))));
  row('BPF new flow, its second packet (interpreter)', (r) => interp(r, (b) => (b.newFlowSecond ? n(over(b.newFlowSecond)) : 'not measured')));
  row('BPF non-IP (interpreter)', (r) => interp(r, (b) => n(over(b.nonIp))));
  row('load: LAN+WAN port programs, instructions (JIT)', (r) => `${n(r.bpf.jit.loadAllNs)} (${r.bpf.jit.jited}/${r.bpf.jit.programs} JIT)`);
  row('load: LAN+WAN port programs (interpreter)', (r) => interp(r, (b) => n(b.loadAllNs)));
  const maybe = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a (the router test failed)');
  row('load at boot, runner\'s ready line (ms of guest clock = M instructions)', (r) => maybe(r.readyLoadMs));
  for (const k of WINDOW_FLOWS.filter((x) => x > 0)) row(`runner window, ${k} flows: instructions per flow`, (r) => n((r.window[k]!.modelNs - r.window[0]!.modelNs) / k));
  row(`runner window, user space only (qemu-user, ${USER_FLOWS} flows): instructions per flow`, (r) => n(r.userInsnsPerFlow));
  row('floating-point instructions the kernel emulated per flow (no FPU)', (r) => (r.fpEmulatedPerFlow === null ? 'no counter' : n(r.fpEmulatedPerFlow)));
  row(`model: instructions per prediction (${FLOWS} flows)`, (r) => n((r.window[FLOWS]!.modelNs - r.window[FLOWS]!.noopNs) / FLOWS));
  for (const k of WINDOW_FLOWS) row(`runner peak memory, ${k} flows (kB)`, (r) => (r.window[k]!.peakKb === null ? 'n/a' : n(r.window[k]!.peakKb!)));
  row('forwarding rate with the toolkit / without (ms per download with; without)', (r) =>
    'error' in r.forwarding ? `failed: ${r.forwarding.error}` : `${r.forwarding.ratio.toFixed(3)} (${r.forwarding.withMs.join(', ')}; ${r.forwarding.withoutMs.join(', ')})`,
  );
  row('QEMU start to runner ready (s of wall clock, TCG with -icount; `bench:router` has it without)', (r) => maybe(r.readySeconds));
  row('`fwbuild test` in the same boot, after the measurements', (r) => (r.testOk ? 'ok' : `FAILED: ${r.testFailures.join('; ')}`));
  L.push('', `## Share of a real CPU at ${FLOWS.toLocaleString('en-US')} flows`, '');
  L.push(
    `Instructions per second = packets per second x the existing-flow cost (JIT on; the LAN port's filters see each forwarded packet once) + the runner's ${FLOWS.toLocaleString('en-US')}-flow window every ${window} s; divided by clock x instructions per cycle. Clock and IPC are assumptions about each virtual router's real twin, not measurements; the share scales with 1/IPC. A new flow's first packet costs less than that (it waits in a pending slot); its second, which records the flow, about twice as much (the rows above): a flood of one-packet flows costs no more per packet than this table says, a flood of two-packet flows more. In brackets: the same with the runner's window counted in user space only (qemu-user), which leaves out the guest kernel's share of the window: page faults, system calls and, on MIPS cores without FPU, the emulation of every floating-point instruction of Debian's hard-float userland (the row above says how many). OpenWrt's mips_24kc userland is soft-float (libgcc routines, no traps), so on ath79 and ramips the runner's real cost lies between the two figures.`,
    '',
  );
  L.push('| virtual router | real CPU (assumed) | ' + RATES.map((p) => `${p / 1000}k pps`).join(' | ') + ' |');
  L.push('|---|---|' + RATES.map(() => '---:').join('|') + '|');
  for (const r of rows) {
    const cpu = r.twin ? REAL_CPU[r.twin] : undefined;
    if (!cpu) continue;
    const pct = (p: number, user: boolean): string => ((100 * insnsPerSecond(r, p, window, user)) / (cpu.mhz * 1e6 * cpu.ipc)).toFixed(1);
    const cells = RATES.map((p) => `${pct(p, false)} % (${pct(p, true)} %)`);
    L.push(`| ${r.target} | ${cpu.core}, ${cpu.mhz} MHz, IPC ${cpu.ipc} (${cpu.soc}) | ${cells.join(' | ')} |`);
  }
  L.push('', '![BPF instructions per packet by platform and case](platforms-per-packet.png)', '', '![share of a real CPU against packet rate](platforms-cpu-share.png)', '');
  L.push(
    'Not measured here: real router silicon (caches, memory latency and the JIT of a real core differ from TCG: instruction counts carry over, times do not), Wi-Fi offload paths that bypass TC (flow offloading, hardware NAT: the toolkit sees nothing they carry), and the kernel\'s own per-packet work that the ratio row only sees through TCG.',
    '',
  );
  return L.join('\n');
}

async function main(): Promise<void> {
  const signal = interruptSignal();
  const { values } = parseArgs({ options: { target: { type: 'string', multiple: true }, json: { type: 'string' }, from: { type: 'string' } } });
  const config = await loadConfig({ cwd: process.cwd() });
  const catalog = await loadCatalog();
  const targets = (values.target ?? catalog.targets.filter(isVirtualRouter).map((t) => t.name)).map((n) => catalog.resolve(n));
  const dataFile = values.json ?? path.join(config.outDir, 'platforms.json');
  // --from FILE: the report and plots again from an earlier run's data, without measuring
  const earlier = values.from ? (JSON.parse(await readFile(values.from, 'utf8')) as { when: string; rows: PlatformRow[] }) : undefined;
  const rows: PlatformRow[] = earlier?.rows ?? [];
  for (const t of earlier ? [] : targets) {
    if (!isVirtualRouter(t)) throw new Error(`${t.name} is not a virtual router`);
    const say = (s: string): void => void process.stderr.write(`${t.name}: ${s}\n`);
    const runner = path.join(config.outDir, targetSlug(t.name), 'bin', 'fwrunner');
    const qemuUser = `${t.qemu.user}-static`;
    let m: Awaited<ReturnType<typeof measure>> | undefined;
    // the router test after the measurements can fail on its own: its failure goes in the row
    const r = await testRouter(config, catalog, t.name, {
      // the RTC on the virtual clock too: MIPS kernels calibrate their timer against it at boot
      qemuArgs: ['-icount', 'shift=0', '-rtc', 'clock=vm'],
      bootTimeout: 900,
      say,
      signal,
      onReady: async (lab) => void (m = await measure(lab, qemuUser, runner, say)),
    }).catch((e: Error) => {
      if (!m) throw e;
      return { ok: false, failures: [e.message.split('\n')[0]!], bootSeconds: NaN, runner: { loadMs: NaN } };
    });
    if (!m) throw new Error(`${t.name}: the router test ended before the measurements`);
    const twin = catalog.targets.find((d) => twinOf(d) === t.name)?.name ?? null;
    rows.push({ target: t.name, twin, ...m, readySeconds: r.bootSeconds, readyLoadMs: r.runner.loadMs, testOk: r.ok, testFailures: r.failures });
    // what is measured so far survives a later target's failure
    await writeFile(`${dataFile}.partial`, `${JSON.stringify(rows, null, 2)}\n`);
  }
  // the shipped config's window: the runner's cost per second is its window's cost over this
  const shipped = await readFile(projectPath('overlays', 'common', 'etc', 'config', 'fwrunner'), 'utf8');
  const window = Number(/option window '(\d+)'/.exec(shipped)?.[1] ?? NaN);
  if (!Number.isFinite(window)) throw new Error('overlays/common/etc/config/fwrunner has no window option');
  // what the plots draw, computed here once (bench/platforms_plot.py only draws)
  const share = (r: PlatformRow, pps: number): number | null => {
    const cpu = r.twin ? REAL_CPU[r.twin] : undefined;
    return cpu ? (100 * insnsPerSecond(r, pps, window)) / (cpu.mhz * 1e6 * cpu.ipc) : null;
  };
  const plot = {
    perPacket: Object.fromEntries(
      rows.map((r) => [r.target, { 'existing flow': over(r.bpf.jit.existingFlow), 'new flow': over(r.bpf.jit.newFlow), 'new flow, 2nd packet': over(r.bpf.jit.newFlowSecond), 'non-IP': over(r.bpf.jit.nonIp) }]),
    ),
    share: Object.fromEntries(
      rows.filter((r) => share(r, 0) !== null).map((r) => [`${r.target} as ${REAL_CPU[r.twin!]!.core}, ${REAL_CPU[r.twin!]!.mhz} MHz`, Array.from({ length: 21 }, (_, i) => [i * 10_000, share(r, i * 10_000)])]),
    ),
  };
  const data = { when: earlier?.when ?? new Date().toISOString(), window, realCpu: REAL_CPU, rates: RATES, flows: FLOWS, rows, plot };
  await writeFile(dataFile, `${JSON.stringify(data, null, 2)}\n`);
  await writeFile(projectPath('docs', 'platforms.md'), report(rows, window, data.when.slice(0, 10)));
  // Debian's python3 and its matplotlib (scripts/host-packages.txt), as models/report.py
  await execFileP('/usr/bin/python3', [projectPath('bench', 'platforms_plot.py'), dataFile, projectPath('docs')]);
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\nwrote docs/platforms.md, docs/platforms-per-packet.png, docs/platforms-cpu-share.png and ${dataFile}\n`);
}

await main();
