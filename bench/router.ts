/**
 * Virtual router benchmark (issue: QEMU routers). Prints figures, never passes or fails.
 *   node --import=tsx bench/router.ts [--target qemu-mips …] [--json]
 * For each target: the image build before the boot (cached or not), seconds from QEMU start
 * to the runner's ready line and to its first prediction, the runner's VmHWM in the guest,
 * and the whole `fwbuild test` run. Needs root, Docker and qemu-system.
 */
import { parseArgs } from 'node:util';
import { loadCatalog, loadConfig, testRouter } from '../builder/index.js';
import { interruptSignal } from '../devkit/interrupt.js';

const { values } = parseArgs({ options: { target: { type: 'string', multiple: true }, json: { type: 'boolean' } } });
const targets = values.target ?? ['qemu-mips', 'qemu-mipsel', 'qemu-armv7', 'qemu-arm64'];
const signal = interruptSignal();
const config = await loadConfig({ cwd: process.cwd() });
const catalog = await loadCatalog();
const rows = [];
for (const name of targets) {
  const r = await testRouter(config, catalog, name, { signal });
  rows.push({
    target: name,
    ok: r.ok,
    buildSeconds: r.build.seconds,
    stepsRun: r.build.ran,
    readySeconds: r.bootSeconds,
    bpfLoadMs: r.runner.loadMs,
    firstPredictionSeconds: r.firstPredictionSeconds,
    vmHwmKb: r.runner.vmHwmKb,
    testSeconds: r.seconds,
  });
}
if (values.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
else {
  process.stdout.write('target        ok    build s  (steps run)        ready s  BPF load ms  1st prediction s  VmHWM kB  test s\n');
  for (const r of rows) {
    process.stdout.write(
      `${r.target.padEnd(13)} ${String(r.ok).padEnd(5)} ${r.buildSeconds.toFixed(1).padStart(7)}  ${(r.stepsRun.join(',') || 'none').padEnd(18)} ` +
        `${r.readySeconds.toFixed(1).padStart(7)}  ${r.bpfLoadMs.toFixed(1).padStart(11)}  ${(r.firstPredictionSeconds?.toFixed(1) ?? "-").padStart(16)}  ${String(r.vmHwmKb ?? "-").padStart(8)}  ${r.testSeconds.toFixed(1).padStart(6)}\n`,
    );
  }
}
