/**
 * Failures a user meets: a failing step, Ctrl-C in the middle of one.
 * The shared build and its lock: test/helpers/shared-build.ts.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Catalog } from '../../../builder/catalog/load.js';
import { BuildError } from '../../../builder/errors.js';
import { build } from '../../../builder/pipeline/build.js';
import { spawnCli } from '../../helpers/cli.js';
import { containersOf } from '../../helpers/docker.js';
import { tempDir } from '../../helpers/tmp.js';
import { useSharedBuild } from '../../helpers/shared-build.js';

let catalog: Catalog;
let cache: string;
const { testConfig } = useSharedBuild(test, (b) => ({ catalog, cache } = b));

test.serial('a failing step exits with its log tail, removes its container and publishes nothing', async (t) => {
  const dir = await tempDir(t);
  const good = catalog.resolve('qemu-mipsel');
  const broken = new Catalog([{ ...good, cpu: { ...good.cpu, cflags: ['-mno-such-option'] } }]);
  const config = await testConfig(dir, { outDir: path.join(dir, 'dist'), cacheDir: cache, logDir: path.join(dir, 'logs') });
  const runId = `fail-${randomBytes(4).toString('hex')}`;
  const err = await t.throwsAsync(build(config, broken, { targets: ['qemu-mipsel'] }, { renderer: 'silent', runId }), { instanceOf: BuildError });
  t.regex(err.message, /step qemu-mipsel\/runner failed \(exit 2\); last lines:/);
  t.regex(err.message, /unrecognized command-line option [‘']-mno-such-option[’']/);
  t.regex(err.message, /full log: .*logs\/qemu-mipsel\/runner\.log/);
  t.is(err.exitCode, 1);
  t.deepEqual(await containersOf(runId), []);
  t.deepEqual(await readdir(path.join(dir, 'dist')).catch(() => []), [], 'nothing published, no staging left');
  await t.throwsAsync(stat(path.join(cache, 'work', runId)), { code: 'ENOENT' });
});

test.serial('Ctrl-C in the middle of a step stops it and leaves no container and no partial output', async (t) => {
  const dir = await tempDir(t);
  const runId = `sigint-${randomBytes(4).toString('hex')}`;
  const dist = path.join(dir, 'dist');
  // A fresh step cache: with the shared one every step would come from the cache, no container.
  const child = spawnCli(['--target', 'qemu-arm64', '--out-dir', dist, '--cache-dir', path.join(dir, 'cache')], {
    cwd: dir,
    env: { FWBUILD_RUN_ID: runId },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // Wait until the runner step's container is really running, then press Ctrl-C.
  const deadline = Date.now() + 300_000; // the first build of the usual images may still be under way
  let running: Awaited<ReturnType<typeof containersOf>> = [];
  while (Date.now() < deadline) {
    running = await containersOf(runId, ['fwbuild.step=runner']);
    if (running.some((c) => c.State === 'running')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.true(running.some((c) => c.State === 'running'), 'a runner step container was running');
  child.kill('SIGINT');
  const code = await exited;
  t.is(code, 130, stderr);
  t.regex(stderr, /SIGINT received, stopping containers/);
  t.regex(stderr, /interrupted by SIGINT/);
  t.deepEqual(await containersOf(runId), [], 'no container left behind');
  t.deepEqual(await readdir(dist).catch(() => []), [], 'no partial dist output');
  await t.throwsAsync(stat(path.join(dir, 'cache', 'work', runId)), { code: 'ENOENT' });
});
