/**
 * Benchmark of fwrunner (issue: runner/). Prints figures, never passes or fails on them.
 *   node --import=tsx bench/runner.ts [--json] [--full]
 * Instructions per window for N synthetic flows (`fwrunner bench-window`: features, predict(),
 * output; no kernel), counted under qemu-user for each target CPU (-singlestep -d exec: one log
 * line per guest instruction) and with callgrind for the host. --full adds 1,000 flows under
 * qemu (about 4 minutes per CPU). Peak RSS and bytecode load time are measured natively.
 * Needs root, Docker, qemu-user-static and valgrind.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build, isVirtualRouter, loadCatalog, loadConfig } from '../builder/index.js';
import { projectPath, targetSlug } from '../builder/util/paths.js';
import { buildBpfTools } from '../devkit/bpf.js';
import { qemuInstructions } from '../devkit/qemu-user.js';

const execFileP = promisify(execFile);

async function callgrindInsns(args: string[]): Promise<number> {
  const out = path.join(tmpdir(), `cg-${process.pid}.out`);
  const { stderr } = await execFileP('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, ...args], { maxBuffer: 64 << 20 });
  await rm(out, { force: true });
  return Number(/Collected : (\d+)/.exec(stderr)?.[1] ?? NaN);
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const sizes = process.argv.includes('--full') ? [10, 100, 1000] : [10, 100];
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-bench-'));
  try {
    const catalog = await loadCatalog();
    const targets = catalog.targets.filter(isVirtualRouter);
    const config = await loadConfig({ cwd: dir, env: {}, overrides: { outDir: path.join(dir, 'dist'), logDir: path.join(dir, 'logs') } });
    await build({ ...config, cacheDir: projectPath('.fwbuild-cache') }, catalog, { targets: targets.map((t) => t.name) }, { renderer: 'silent' });
    const host = await buildBpfTools('bpfel');
    const noop = projectPath('bench', 'noop-model.js');
    const report: Record<string, unknown> = {};

    for (const t of targets) {
      const d = path.join(dir, 'dist', targetSlug(t.name));
      const bin = path.join(d, 'bin', 'fwrunner');
      const model = path.join(d, 'model', 'model.qbc');
      const qemu = `${t.qemu!.user}-static`;
      const base = await qemuInstructions(qemu, [bin, 'bench-window', '--flows', '0', '--model', model]);
      const perWindow: Record<string, number> = {};
      for (const n of sizes) perWindow[n] = (await qemuInstructions(qemu, [bin, 'bench-window', '--flows', String(n), '--model', model])) - base;
      const n = sizes.at(-1)!;
      const noopBase = await qemuInstructions(qemu, [bin, 'bench-window', '--flows', '0', '--model', noop]);
      const noopN = (await qemuInstructions(qemu, [bin, 'bench-window', '--flows', String(n), '--model', noop])) - noopBase;
      const sizeOf = async (f: string) => (await readFile(f)).length;
      report[t.name] = {
        cpu: `${t.cpu.family} ${t.cpu.endian}-endian`,
        insnsPerWindow: perWindow,
        insnsPerFlow: Math.round(perWindow[n]! / n),
        insnsPerPrediction: Math.round((perWindow[n]! - noopN) / n),
        strippedBytes: { runner: await sizeOf(bin), bpf: await sizeOf(path.join(d, 'bpf', 'fw_flows.bpf.o')), model: await sizeOf(model) },
      };
    }
    // The host: callgrind counts, peak RSS and model load time.
    const hostModel = projectPath('models', 'video-quality.js');
    const hostBase = await callgrindInsns([host.runner, 'bench-window', '--flows', '0', '--model', hostModel]);
    const hostPer: Record<string, number> = {};
    for (const n of [10, 100, 1000]) hostPer[n] = (await callgrindInsns([host.runner, 'bench-window', '--flows', String(n), '--model', hostModel])) - hostBase;
    const { stderr } = await execFileP('/usr/bin/time', ['-v', host.runner, 'bench-window', '--flows', '1000', '--model', hostModel], { maxBuffer: 64 << 20 });
    const vmhwmKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1] ?? NaN);
    // Load cost: source vs bytecode of the same model, as instructions (0 flows = startup + load).
    const bc = path.join(host.dir, 'model.qbc');
    await execFileP(host.runner, ['compile', hostModel, bc]);
    const loadSource = await callgrindInsns([host.runner, 'bench-window', '--flows', '0', '--model', hostModel]);
    const loadBytecode = await callgrindInsns([host.runner, 'bench-window', '--flows', '0', '--model', bc]);
    report['host x86_64'] = { insnsPerWindow: hostPer, insnsPerFlow: Math.round(hostPer[1000]! / 1000), peakRssKb1000Flows: vmhwmKb, startupInsns: { source: loadSource, bytecode: loadBytecode } };
    await rm(host.dir, { recursive: true, force: true });

    if (json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    for (const [name, r] of Object.entries(report)) console.log(name.padEnd(12), JSON.stringify(r));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
