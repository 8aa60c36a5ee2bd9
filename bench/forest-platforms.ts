/**
 * The in-kernel model on each virtual router (docs/in-kernel-model.md): builds the image with
 * `inference: both` into <outDir>/in-kernel, boots it under `-icount shift=0` (a guest
 * nanosecond is one guest instruction, as bench:platforms calibrates), and runs
 * `fwrunner bench-bpf` on the forest object there with the JIT on: one prediction of the forest,
 * the packet program's cost per existing-flow packet, and the load of the LAN and WAN ports'
 * programs (with the window end they tail-call). Then `fwbuild test` runs on the same boot and
 * says whether the kernel answered. Prints figures; passes or fails on nothing.
 *   node --import=tsx bench/forest-platforms.ts [--target qemu-mips …] [--json FILE]
 * Needs root, Docker and qemu-system (as `fwbuild test`).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isVirtualRouter, loadCatalog, loadConfig, testRouter } from '../builder/index.js';
import { INFERENCE } from '../builder/config/inference.js';
import type { BenchBpfResult } from '../devkit/bpf.js';
import { guest, jsonLine } from '../devkit/guest.js';

interface Row {
  target: string;
  bench: BenchBpfResult;
  readyLoadMs: number;
  kernel: { lines: number; windows: number } | null;
  testOk: boolean;
  failures: string[];
}

const over = (c: { ns: number; emptyNs: number } | undefined): number | null => (c ? Math.round(c.ns - c.emptyNs) : null);

async function main(): Promise<void> {
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
    const r = await testRouter(config, catalog, t.name, {
      qemuArgs: ['-icount', 'shift=0', '-rtc', 'clock=vm'],
      bootTimeout: 900,
      say,
      onReady: async (lab) => {
        await guest(lab, 'echo 1 >/proc/sys/net/core/bpf_jit_enable');
        bench = jsonLine<BenchBpfResult>(await guest(lab, `out=$(fwrunner bench-bpf --object ${object} --repeat 2000 --new-flows 500) && echo "bench: $out"`), 'bpfBench');
        say(`one prediction ${over(bench.forestPrediction)} instructions over an empty program`);
      },
    });
    if (!bench) throw new Error(`${t.name}: the router test ended before the measurements`);
    rows.push({ target: t.name, bench, readyLoadMs: r.runner.loadMs, kernel: r.kernel && { lines: r.kernel.lines, windows: r.kernel.windows }, testOk: r.ok, failures: r.failures });
  }
  const json = values.json ?? path.join(config.outDir, 'forest-platforms.json');
  await writeFile(json, `${JSON.stringify({ when: new Date().toISOString(), rows }, null, 2)}\n`);
  const lines = [
    '| virtual router | one prediction (instructions) | existing-flow packet (instructions over empty) | load, 4 port programs + window end (M instructions) | load at boot, ready line (ms) | programs JIT-compiled | kernel answered (flow lines) | fwbuild test |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      `| ${r.target} | ${over(r.bench.forestPrediction)?.toLocaleString('en-US')} | ${over(r.bench.existingFlow)?.toLocaleString('en-US')} | ${(r.bench.loadAllNs / 1e6).toFixed(1)} | ${r.readyLoadMs} | ${r.bench.jited} of ${r.bench.programs} | ${r.kernel?.lines ?? 0} | ${r.testOk ? 'ok' : `failed: ${r.failures.join('; ')}`} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\nwrote ${json}\n`);
}

await main();
