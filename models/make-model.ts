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
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadCatalog } from '../builder/catalog/load.js';
import { loadConfig } from '../builder/config/load.js';
import { build } from '../builder/pipeline/build.js';
import { projectPath } from '../builder/util/paths.js';

const sh = promisify(execFile);
const BUDGET = { bytecodeBytes: 100_000, instructions: 150_000 };
const OUT = projectPath('models', 'build');

interface GridPoint {
  name: string;
  trees: number;
  depth: number;
  accuracy: number;
  startupMaeS: number;
}

/** Guest instructions fwrunner executes for `lines` on stdin, counted by qemu-user. */
async function countInstructions(runner: string, model: string, lines: string): Promise<number> {
  const log = `/dev/shm/fwbuild-insn-${process.pid}.log`;
  await new Promise<void>((resolve, reject) => {
    const p = spawn('qemu-mips-static', ['-singlestep', '-d', 'nochain,exec', '-D', log, runner, 'predict', '--time-limit', '60000', '--model', model], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`predict under qemu: exit ${code}: ${err}`))));
    p.stdin.end(lines);
  });
  try {
    const { stdout } = await sh('grep', ['-c', '^Trace', log], { maxBuffer: 1 << 20 });
    return Number(stdout.trim());
  } finally {
    await rm(log, { force: true });
  }
}

async function main(): Promise<void> {
  if (!process.argv.includes('--skip-train')) {
    await sh('/usr/bin/python3', [projectPath('models', 'train.py'), '--data', projectPath('models', 'data'), '--out', OUT], { maxBuffer: 64 << 20 }).then(
      (r) => process.stderr.write(r.stdout),
    );
  }
  const grid = JSON.parse(await readFile(path.join(OUT, 'grid.json'), 'utf8')) as { grid: GridPoint[] };

  const config = await loadConfig({});
  const report = await build(config, await loadCatalog(), { targets: ['qemu-mips'] }, { renderer: 'silent' });
  const runner = path.join(report.targets[0]!.outDir, 'bin', 'fwrunner');
  const q = (args: string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn('qemu-mips-static', [runner, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`fwrunner ${args[0]}: exit ${code}: ${err}`))));
      p.stdin.end(input ?? '');
    });

  const nullModel = path.join(OUT, 'null.js');
  await writeFile(nullModel, "function predict(f) { return { resolution: '240p' }; }\n");
  const sample = (await readFile(path.join(OUT, `${grid.grid[0]!.name}.check.jsonl`), 'utf8')).split('\n').filter(Boolean);
  // recorded lines ({flow, features}), as the runner feeds the model: one flow's windows in order
  const asInput = (l: string): string => {
    const c = JSON.parse(l) as { flow: unknown; features: unknown };
    return `${JSON.stringify({ flow: c.flow, features: c.features })}\n`;
  };
  const one = asInput(sample[0]!);
  const many = sample.slice(0, 21).map(asInput).join('');
  const k = many.split('\n').filter(Boolean).length - 1;
  const perLine = async (model: string) => ((await countInstructions(runner, model, many)) - (await countInstructions(runner, model, one))) / k;
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
    const answers = (await q(['predict', '--time-limit', '60000', '--model', qbc], lines.map(asInput).join(''))).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { resolution: string; startupMs?: number });
    let mismatches = 0;
    checks.forEach((c, i) => {
      const a = answers[i];
      if (!a || a.resolution !== c.resolution || (c.startupMs !== undefined && a.startupMs !== c.startupMs)) mismatches++;
    });
    const instructions = Math.round((await perLine(qbc)) - runnerPerLine);
    measured.push({ ...g, bytecodeBytes, instructions, checked: checks.length, mismatches });
    process.stderr.write(`${g.name}: ${bytecodeBytes} B bytecode, ${instructions} MIPS instructions per prediction, ${mismatches}/${checks.length} mismatches\n`);
  }
  const fits = measured.filter((m) => m.mismatches === 0 && m.bytecodeBytes < BUDGET.bytecodeBytes && m.instructions < BUDGET.instructions);
  fits.sort((a, b) => b.accuracy - a.accuracy || a.startupMaeS - b.startupMaeS || a.instructions - b.instructions);
  const best = fits[0];
  if (!best) throw new Error('no grid point fits the budget with an exact export');
  await copyFile(path.join(OUT, `${best.name}.js`), projectPath('models', 'video-quality.js'));
  await copyFile(path.join(OUT, `${best.name}.check.jsonl`), projectPath('models', 'video-quality.check.jsonl'));
  await mkdir(OUT, { recursive: true });
  await writeFile(
    path.join(OUT, 'measured.json'),
    `${JSON.stringify({ budget: BUDGET, runnerInstructionsPerLine: Math.round(runnerPerLine), chosen: best.name, points: measured }, null, 1)}\n`,
  );
  const r = await sh('/usr/bin/python3', [projectPath('models', 'report.py'), '--build', OUT, '--out', projectPath('models')]);
  process.stderr.write(r.stdout);
  process.stderr.write(`shipped: models/video-quality.js = ${best.name} (accuracy ${best.accuracy.toFixed(3)}, ${best.bytecodeBytes} B, ${best.instructions} instructions)\n`);
}

await main();
