/**
 * From the lab's data to the shipped model and its report:
 *
 *   npm run model:make            (after npm run lab:collect; needs root, Docker and qemu-user)
 *
 * 1. models/train.py trains the grid of random forests (trees x depth) and exports each to JS;
 * 2. fwbuild builds qemu-mips (from its cache when it can) for a big-endian MIPS fwrunner;
 * 3. for each grid point, under qemu-mips: the bytecode the runner compiles (its size), the
 *    exported model's answers on the held-out windows against the trained model's (they must be
 *    equal), and the MIPS instructions one prediction costs, counted by qemu (-singlestep
 *    -d nochain,exec: one log line per executed instruction), net of the runner's own work per
 *    line (the same count for a model that returns a constant);
 * 4. the best point within the budget becomes models/video-quality.js (+ its check file);
 * 5. models/report.py writes models/report.md and models/tradeoff.png.
 */
import { execFile } from 'node:child_process';
import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { build, loadCatalog, loadConfig } from '../builder/index.js';
import { projectPath } from '../builder/util/paths.js';
import { qemuInstructions, runUnderQemu } from '../devkit/qemu-user.js';

const sh = promisify(execFile);
const BUDGET = { bytecodeBytes: 100_000, instructions: 150_000 };
const OUT = projectPath('models', 'build');

interface GridPoint {
  name: string;
  trees: number;
  depth: number;
  accuracy: number;
}

async function main(): Promise<void> {
  if (!process.argv.includes('--skip-train')) {
    await sh('/usr/bin/python3', [projectPath('models', 'train.py'), '--data', projectPath('models', 'data'), '--out', OUT], { maxBuffer: 64 << 20 }).then(
      (r) => process.stderr.write(r.stdout),
    );
  }
  const grid = JSON.parse(await readFile(path.join(OUT, 'grid.json'), 'utf8')) as { grid: GridPoint[] };

  const config = await loadConfig({});
  const catalog = await loadCatalog();
  const mips = catalog.resolve('qemu-mips');
  const report = await build(config, catalog, { targets: [mips.name] }, { renderer: 'silent' });
  const runner = path.join(report.targets[0]!.outDir, 'bin', 'fwrunner');
  const qemu = `${mips.qemu!.user}-static`;
  const input = path.join(OUT, 'input.jsonl');
  /** fwrunner on big-endian MIPS under qemu-user; `lines` on its stdin. */
  const q = async (args: string[], lines = ''): Promise<string> => {
    await writeFile(input, lines);
    const r = await runUnderQemu(mips, [runner, ...args], input);
    if (r.code !== 0) throw new Error(`fwrunner ${args[0]}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const predict = (model: string) => ['predict', '--time-limit', '60000', '--model', model];

  // a model that returns at once: its cost per line is the runner's own (JSON in and out)
  const nullModel = projectPath('bench', 'noop-model.js');
  const sample = (await readFile(path.join(OUT, `${grid.grid[0]!.name}.check.jsonl`), 'utf8')).split('\n').filter(Boolean);
  // recorded lines ({flow, features}), as the runner feeds the model: one flow's windows in order
  const asInput = (l: string): string => {
    const c = JSON.parse(l) as { flow: unknown; features: unknown };
    return `${JSON.stringify({ flow: c.flow, features: c.features })}\n`;
  };
  const one = asInput(sample[0]!);
  const many = sample.slice(0, 21).map(asInput).join('');
  const k = many.split('\n').filter(Boolean).length - 1;
  const perLine = async (model: string) =>
    ((await qemuInstructions(qemu, [runner, ...predict(model)], many)) - (await qemuInstructions(qemu, [runner, ...predict(model)], one))) / k;
  const runnerPerLine = await perLine(nullModel);

  const measured = [];
  for (const g of grid.grid) {
    const js = path.join(OUT, `${g.name}.js`);
    const qbc = path.join(OUT, `${g.name}.qbc`);
    await q(['compile', js, qbc]);
    const bytecodeBytes = (await stat(qbc)).size;
    // the exported model, as bytecode on big-endian MIPS, against the trained model's answers
    const lines = (await readFile(path.join(OUT, `${g.name}.check.jsonl`), 'utf8')).split('\n').filter(Boolean);
    const checks = lines.map((l) => JSON.parse(l) as { resolution: string; startupMs?: number });
    const answers = (await q(predict(qbc), lines.map(asInput).join(''))).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { resolution: string; startupMs?: number });
    let mismatches = 0;
    checks.forEach((c, i) => {
      const a = answers[i];
      // the startup is answered in the same windows (once per flow) or not at all
      if (!a || a.resolution !== c.resolution || a.startupMs !== c.startupMs) mismatches++;
    });
    const instructions = Math.round((await perLine(qbc)) - runnerPerLine);
    measured.push({ ...g, bytecodeBytes, instructions, checked: checks.length, mismatches });
    process.stderr.write(`${g.name}: ${bytecodeBytes} B bytecode, ${instructions} MIPS instructions per prediction, ${mismatches}/${checks.length} mismatches\n`);
  }
  const fits = measured.filter((m) => m.mismatches === 0 && m.bytecodeBytes < BUDGET.bytecodeBytes && m.instructions < BUDGET.instructions);
  fits.sort((a, b) => b.accuracy - a.accuracy || a.instructions - b.instructions);
  const best = fits[0];
  if (!best) throw new Error('no grid point fits the budget with an exact export');
  await copyFile(path.join(OUT, `${best.name}.js`), projectPath('models', 'video-quality.js'));
  await copyFile(path.join(OUT, `${best.name}.check.jsonl`), projectPath('models', 'video-quality.check.jsonl'));
  await writeFile(
    path.join(OUT, 'measured.json'),
    `${JSON.stringify({ budget: BUDGET, runnerInstructionsPerLine: Math.round(runnerPerLine), chosen: best.name, points: measured }, null, 1)}\n`,
  );
  const r = await sh('/usr/bin/python3', [projectPath('models', 'report.py'), '--build', OUT, '--out', projectPath('models')]);
  process.stderr.write(r.stdout);
  process.stderr.write(`shipped: models/video-quality.js = ${best.name} (accuracy ${best.accuracy.toFixed(3)}, ${best.bytecodeBytes} B, ${best.instructions} instructions)\n`);
}

await main();
