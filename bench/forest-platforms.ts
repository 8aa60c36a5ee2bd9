/**
 * The in-kernel model on each virtual router (docs/in-kernel-model.md): builds the image with
 * `inference: both` into <outDir>/in-kernel, boots it under `-icount shift=0` (a guest
 * nanosecond is one guest instruction, as bench:platforms calibrates), and runs
 * `fwrunner bench-bpf` on the forest object there with the JIT on: one prediction of the forest,
 * the packet program's cost per existing-flow packet, and the load of the LAN and WAN ports'
 * programs (with the window end they tail-call). Beside them, in the same boot, the QuickJS
 * model's cost per prediction: `fwrunner bench-window` over 100 flows with the shipped model
 * minus with a model that returns at once (as bench:platforms), and the runner's window per flow
 * with that model and with none (the counts-only lines of `inference: kernel`). Then `fwbuild test` runs on the
 * same boot and says whether the kernel answered. Writes models/kernel-platforms.json (read by
 * models/report.py) and prints a table; passes or fails on nothing.
 *   node --import=tsx bench/forest-platforms.ts [--target qemu-mips …] [--json FILE]
 * Needs root, Docker and qemu-system (as `fwbuild test`).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isVirtualRouter, loadCatalog, loadConfig, testRouter } from '../builder/index.js';
import { INFERENCE } from '../builder/config/inference.js';
import { projectPath } from '../builder/util/paths.js';
import type { BenchBpfResult } from '../devkit/bpf.js';
import { interruptSignal } from '../devkit/interrupt.js';
import { guest, jsonLine, windowCost } from '../devkit/guest.js';

interface Row {
  target: string;
  bench: BenchBpfResult;
  /** guest instructions of one QuickJS prediction (model minus a model that returns at once) */
  quickjsPrediction: number;
  /** guest instructions per flow of the runner's window with a model that returns at once: its cost without the QuickJS model */
  runnerPerFlow: number;
  /** the same with the in-kernel model alone (`--model none`): the flow's counts and the kernel's answer, no features */
  runnerPerFlowKernelOnly: number;
  /** bytes in the image: the forest object, the QuickJS bytecode */
  objectBytes: number;
  bytecodeBytes: number;
  readyLoadMs: number;
  kernel: { lines: number; windows: number } | null;
  testOk: boolean;
  failures: string[];
}

const QUICKJS_FLOWS = 100;
const over = (c: { ns: number; emptyNs: number } | undefined): number | null => (c ? Math.round(c.ns - c.emptyNs) : null);

async function main(): Promise<void> {
  const signal = interruptSignal();
  const { values } = parseArgs({ options: { target: { type: 'string', multiple: true }, json: { type: 'string' } } });
  const base = await loadConfig({ cwd: process.cwd() });
  // its own output folder: dist/ keeps the default images
  const config = { ...base, inference: 'both' as const, outDir: path.join(base.outDir, 'in-kernel') };
  const catalog = await loadCatalog();
  const targets = (values.target ?? catalog.targets.filter(isVirtualRouter).map((t) => t.name)).map((n) => catalog.resolve(n));
  const object = `/usr/lib/fwrunner/${INFERENCE.both.object}`;
  const rows: Row[] = [];
  for (const t of targets) {
    if (!isVirtualRouter(t)) throw new Error(`${t.name} is not a virtual router`);
    const say = (s: string): void => void process.stderr.write(`${t.name}: ${s}\n`);
    let bench: BenchBpfResult | undefined;
    let quickjsPrediction = 0;
    let runnerPerFlow = 0;
    let runnerPerFlowKernelOnly = 0;
    let sizes = [0, 0];
    const r = await testRouter(config, catalog, t.name, {
      qemuArgs: ['-icount', 'shift=0', '-rtc', 'clock=vm'],
      bootTimeout: 900,
      say,
      signal,
      onReady: async (lab) => {
        await guest(lab, 'echo 1 >/proc/sys/net/core/bpf_jit_enable');
        bench = jsonLine<BenchBpfResult>(await guest(lab, `out=$(fwrunner bench-bpf --object ${object} --repeat 2000 --new-flows 500) && echo "bench: $out"`), 'bpfBench');
        say(`one prediction ${over(bench.forestPrediction)} instructions over an empty program`);
        await guest(lab, `echo 'function predict(f) { return 0; }' >/tmp/noop.js`);
        const model = await windowCost(lab, QUICKJS_FLOWS, '/usr/share/fwrunner/model.qbc');
        const noop = await windowCost(lab, QUICKJS_FLOWS, '/tmp/noop.js');
        quickjsPrediction = Math.round((model.ns - noop.ns) / QUICKJS_FLOWS);
        runnerPerFlow = Math.round(noop.ns / QUICKJS_FLOWS);
        runnerPerFlowKernelOnly = Math.round((await windowCost(lab, QUICKJS_FLOWS, 'none')).ns / QUICKJS_FLOWS);
        say(`runner per flow: ${runnerPerFlow} instructions with features, ${runnerPerFlowKernelOnly} with the in-kernel model alone`);
        say(`QuickJS: one prediction ${quickjsPrediction} instructions`);
        const wc = (await guest(lab, `echo "sizes: $(wc -c <${object}) $(wc -c </usr/share/fwrunner/model.qbc)"`)).find((l) => l.includes('sizes: '));
        sizes = (/sizes:\s+(\d+)\s+(\d+)/.exec(wc ?? '') ?? []).slice(1).map(Number);
        if (sizes.length !== 2) throw new Error(`${t.name}: no sizes of the object and the bytecode in: ${wc}`);
      },
    });
    if (!bench) throw new Error(`${t.name}: the router test ended before the measurements`);
    rows.push({ target: t.name, bench, quickjsPrediction, runnerPerFlow, runnerPerFlowKernelOnly, objectBytes: sizes[0]!, bytecodeBytes: sizes[1]!, readyLoadMs: r.runner.loadMs, kernel: r.kernel && { lines: r.kernel.lines, windows: r.kernel.windows }, testOk: r.ok, failures: r.failures });
  }
  const json = values.json ?? projectPath('models', 'kernel-platforms.json');
  await writeFile(json, `${JSON.stringify({ when: new Date().toISOString(), rows }, null, 2)}\n`);
  const lines = [
    '| virtual router | one prediction in the kernel (instructions) | one QuickJS prediction (instructions) | existing-flow packet (instructions over empty) | load, 4 port programs + window end (M instructions) | load at boot, ready line (ms) | programs JIT-compiled | kernel answered (flow lines) | fwbuild test |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      `| ${r.target} | ${over(r.bench.forestPrediction)?.toLocaleString('en-US')} | ${r.quickjsPrediction.toLocaleString('en-US')} | ${over(r.bench.existingFlow)?.toLocaleString('en-US')} | ${(r.bench.loadAllNs / 1e6).toFixed(1)} | ${r.readyLoadMs} | ${r.bench.jited} of ${r.bench.programs} | ${r.kernel?.lines ?? 0} | ${r.testOk ? 'ok' : `failed: ${r.failures.join('; ')}`} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\nwrote ${json}\n`);
}

await main();
