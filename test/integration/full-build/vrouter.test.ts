/**
 * fwbuild test on every virtual router of the shared build: real QEMU boots, real traffic.
 * The shared build and its lock: test/helpers/shared-build.ts.
 */
import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Catalog } from '../../../builder/catalog/load.js';
import { build, type BuildReport } from '../../../builder/pipeline/build.js';
import { runCli, spawnCli } from '../../helpers/cli.js';
import { LAB_PREFIX, testRouter, type RouterTestReport } from '../../../builder/vrouter/router-test.js';
import { Netns } from '../../../builder/vrouter/netns.js';
import { useSharedBuild } from '../../helpers/shared-build.js';

let first: BuildReport;
let catalog: Catalog;
let shared: string;
let out: string;
let cache: string;
const { testConfig, cliProject } = useSharedBuild(test, (b) => ({ first, catalog, shared, out, cache } = b));

/** What `fwbuild test` reported per target, for the figures in the log and the flow checks. */
const routerReports = new Map<string, RouterTestReport>();

// qemu-mips (big-endian, the ath79 twin) and qemu-armv7 (ARM32 JIT) first: CI must cover them.
for (const name of ['qemu-mips', 'qemu-armv7', 'qemu-mipsel', 'qemu-arm64']) {
  test.serial(`fwbuild test ${name}: boots, JIT-compiles the BPF programs and forwards real traffic; predictions equal Node.js's`, async (t) => {
    const config = await testConfig(shared, { outDir: out, cacheDir: cache, logDir: path.join(shared, 'logs') });
    // testRouter throws if a download does not arrive complete through the router
    const r = await testRouter(config, catalog, name, { say: (s) => t.log(s) });
    routerReports.set(name, r);
    t.deepEqual(r.build.ran, [], 'the image built by the first test is reused: every step from the cache');
    t.is(r.runner.programs, 2, 'the runner loads only the pair it attaches: the shipped config watches br-lan');
    t.is(r.runner.jited, r.runner.programs, 'every BPF program JIT-compiled in the guest');
    t.is(r.udp.received, r.udp.sent, 'the UDP stream crossed the router');
    t.true(r.bytes.expected.down >= 1_800_000);
    // every flow line the runner printed has a prediction, equal to Node.js's on the same features
    t.is(r.predictions.withPrediction, r.predictions.lines);
    t.is(r.predictions.matchingReference, r.predictions.withPrediction);
    t.true((r.runner.vmHwmKb ?? 0) > 0, 'VmHWM read inside the guest');
    t.true(r.runner.loadMs > 0, 'the runner timed loading its BPF programs (verification and JIT) in the guest');
    t.deepEqual(await Netns.list(LAB_PREFIX), [], 'no lab namespace left');
    t.deepEqual(await qemuWithLabTaps(), [], 'no QEMU left');
    t.log(
      `${name}: runner ready ${r.bootSeconds.toFixed(1)} s after QEMU start, first prediction at ${r.firstPredictionSeconds?.toFixed(1) ?? '-'} s, ` +
        `BPF programs loaded in ${r.runner.loadMs} ms, VmHWM ${r.runner.vmHwmKb} kB, ${r.predictions.lines} flow lines, whole test ${r.seconds.toFixed(1)} s`,
    );
  });

  test.serial(`fwbuild test ${name}: every flow reported with exactly the payload sent each way (TCP over IPv4 and IPv6, UDP)`, (t) => {
    const r = routerReports.get(name);
    if (!r) return t.fail('the boot test above did not produce a report');
    t.is(r.flows.expected, 4);
    t.is(r.flows.seen, 4, JSON.stringify(r.flows.checks));
    for (const c of r.flows.checks) t.deepEqual(c.seen && { up: c.seen.up, down: c.seen.down }, c.expected, `${c.name}: ${JSON.stringify(c)}`);
    t.true(r.flows.checks.some((c) => c.seen && c.client.includes(':')), 'an IPv6 flow crossed the router');
    t.is(r.bytes.seen.down, r.bytes.expected.down);
    t.deepEqual(r.failures, [], `console log: ${r.consoleLog}`);
    t.true(r.ok);
  });
}

test.serial('fwbuild test: a boot that never gets ready fails with the console log, and Ctrl-C leaves nothing behind', async (t) => {
  // the CLI finds this file's images through a config file, as a user's project would
  const dir = await cliProject(t);
  // --boot-timeout 1: QEMU is up, the runner cannot be ready within a second
  const r = await runCli(['test', '--target', 'qemu-armv7', '--boot-timeout', '1', '--json', '--out-dir', out, '--cache-dir', cache], {
    cwd: dir,
  });
  t.is(r.code, 1, r.stderr);
  const j = JSON.parse(r.stdout) as { ok: boolean; error: { message: string } };
  t.false(j.ok);
  t.regex(j.error.message, /waiting for fwrunner's ready line on the serial console: nothing after 1 s; console log: \S+test-console\.log/);
  t.deepEqual(await Netns.list(LAB_PREFIX), [], 'no lab namespace left after the timeout');
  t.deepEqual(await qemuWithLabTaps(), [], 'no QEMU left after the timeout');

  const child = spawnCli(['test', '--target', 'qemu-armv7', '--out-dir', out, '--cache-dir', cache], {
    cwd: dir,
  });
  let stderr = '';
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve) =>
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/booting qemu-armv7/.test(stderr)) resolve();
    }),
  );
  await new Promise((r) => setTimeout(r, 2000)); // QEMU is running, the taps are in the namespaces
  t.true((await Netns.list(LAB_PREFIX)).length > 0, 'the lab was up when Ctrl-C came');
  child.kill('SIGINT');
  t.is(await exited, 130, stderr);
  t.deepEqual(await Netns.list(LAB_PREFIX), [], 'no lab namespace (and so no tap) left after Ctrl-C');
  t.deepEqual(await qemuWithLabTaps(), [], 'no QEMU left after Ctrl-C');
});

/** QEMU processes started by fwbuild test (their tap names start with fwl/fww). */
async function qemuWithLabTaps(): Promise<string[]> {
  const pids = await readdir('/proc');
  const found: string[] = [];
  for (const p of pids.filter((x) => /^\d+$/.test(x))) {
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith('qemu-system') && /ifname=fw[lw]/.test(cmd)) found.push(`${p} ${cmd.replace(/\0/g, ' ')}`);
  }
  return found;
}
