/**
 * Build-time benchmark (issue: reproducibility and the step cache). Prints figures, never
 * passes or fails on them.
 *   node --import=tsx bench/build.ts [--target qemu-mips] [--warm] [--json]
 * Cold: a build of the target from an empty step cache with the images already there (the
 * images are built on first use and are not part of the figure). No-op: the same build again.
 * Model-only: the same build with a changed model. With --warm the cold build uses the usual
 * .fwbuild-cache and is reported as such. The goals to compare with: no-op under 2 s,
 * model-only under 15 s.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build, type BuildReport, loadCatalog, loadConfig } from '../builder/index.js';

const { values } = parseArgs({ options: { target: { type: 'string', default: 'qemu-mips' }, warm: { type: 'boolean' }, json: { type: 'boolean' } } });
const target = values.target!;
const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-bench-'));
try {
  const base = await loadConfig({ cwd: process.cwd() });
  const config = {
    ...base,
    outDir: path.join(dir, 'dist'),
    logDir: path.join(dir, 'logs'),
    lockFile: path.join(dir, 'fwbuild.lock'),
    ...(values.warm ? {} : { cacheDir: path.join(dir, 'cache') }),
  };
  const catalog = await loadCatalog();
  const once = async (label: string, c = config): Promise<{ label: string; seconds: number; ran: string[] }> => {
    const t0 = process.hrtime.bigint();
    const r: BuildReport = await build(c, catalog, { targets: [target] }, { renderer: 'silent' });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return { label, seconds, ran: r.targets[0]!.steps.filter((s) => s.status === 'ran').map((s) => s.name) };
  };
  const rows = [await once(values.warm ? 'first (warm cache)' : 'cold (empty step cache)'), await once('no-op')];
  const model = path.join(dir, 'model.js');
  await writeFile(model, `function predict(f) { return { cls: f.downMbps > 2 ? 'hd' : 'sd', at: ${Date.now()} }; }\n`);
  rows.push(await once('model-only', { ...config, model }));
  if (values.json) process.stdout.write(`${JSON.stringify({ target, rows }, null, 2)}\n`);
  else {
    process.stdout.write(`build times for ${target} (seconds, library call, images already built)\n`);
    for (const r of rows) process.stdout.write(`  ${r.label.padEnd(26)} ${r.seconds.toFixed(2).padStart(8)}  steps run: ${r.ran.join(', ') || 'none'}\n`);
    const [, noop, modelOnly] = rows;
    process.stdout.write(`  no-op: ${(noop!.seconds / 2).toFixed(2)} of the 2 s goal; model-only: ${(modelOnly!.seconds / 15).toFixed(2)} of the 15 s goal\n`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
