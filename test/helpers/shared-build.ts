/**
 * The fixture of the integration files under test/integration/full-build/: one build of every
 * virtual router, made once per ava run and shared by those files.
 *
 * ava runs each file in its own process (workerThreads: false, which the namespace tests need,
 * rules out ava's shared workers), so the files meet in a folder named after ava's own process
 * (their parent). A file holds that folder's lock from its first test to its last: the files
 * take turns, each sees the state the one before left, and heavy files never compete for the
 * CPU. The first file to get the lock makes the build (cold: base and toolchain images under an
 * image namespace of this run; FWBUILD_TEST_WARM=1: fwbuild's usual images); the others read
 * its report. A janitor process removes the folder and the namespace once ava has exited.
 */
import type { TestFn } from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadCatalog, type Catalog } from '../../builder/catalog/load.js';
import { isVirtualRouter, type DebianTarget } from '../../builder/catalog/target.js';
import { loadConfig } from '../../builder/config/load.js';
import type { ResolvedConfig } from '../../builder/config/config.js';
import { build, type BuildReport } from '../../builder/pipeline/build.js';
import { projectPath } from '../../builder/util/paths.js';
import { tempDir } from './tmp.js';

export interface SharedBuild {
  /** the report of the one build of every virtual router */
  first: BuildReport;
  catalog: Catalog;
  debianTargets: DebianTarget[];
  /** image namespace of this run's base and toolchain images */
  namespace: string;
  cold: boolean;
  /** the run's folder; `out` and `cache` are the build's dist and step cache */
  shared: string;
  out: string;
  cache: string;
  /** a config for a test folder, with the run's image namespace */
  testConfig(cwd: string, overrides: { outDir: string; cacheDir: string; logDir: string }): Promise<ResolvedConfig>;
  /** a test folder whose config points the CLI at the run's images */
  cliProject(t: Parameters<typeof tempDir>[0]): Promise<string>;
}

interface State {
  namespace: string;
  cold: boolean;
}

const root = path.join(tmpdir(), `fwbuild-it-${process.ppid}`);
const lockDir = path.join(root, 'lock');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Takes the run's lock; a lock whose holder died (a crashed file) is taken over. */
async function lock(): Promise<void> {
  await mkdir(root, { recursive: true });
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(path.join(lockDir, 'owner'), String(process.pid));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number(await readFile(path.join(lockDir, 'owner'), 'utf8').catch(() => '0'));
    if (owner && !alive(owner)) await rm(lockDir, { recursive: true, force: true });
    await sleep(1000);
  }
}

async function unlock(): Promise<void> {
  const owner = await readFile(path.join(lockDir, 'owner'), 'utf8').catch(() => '');
  if (owner === String(process.pid)) await rm(lockDir, { recursive: true, force: true });
}

const readJson = async <T>(file: string): Promise<T | undefined> =>
  readFile(file, 'utf8').then(
    (s) => JSON.parse(s) as T,
    () => undefined,
  );

/** The run's state, made by the first file: the namespace, and a janitor for when ava exits. */
async function state(): Promise<State> {
  const file = path.join(root, 'state.json');
  const known = await readJson<State>(file);
  if (known) return known;
  const cold = process.env.FWBUILD_TEST_WARM !== '1';
  const made: State = { cold, namespace: cold ? `fwbuild-cold-${randomBytes(3).toString('hex')}` : 'fwbuild' };
  await writeFile(file, JSON.stringify(made));
  const log = openSync(`${root}.janitor.log`, 'a');
  spawn(process.execPath, ['--import=tsx', projectPath('test', 'helpers', 'janitor.ts'), String(process.ppid), root, made.cold ? made.namespace : ''], {
    detached: true,
    stdio: ['ignore', log, log],
    cwd: projectPath(),
  }).unref();
  return made;
}

/** Loads a config for a test folder, with the run's image namespace. */
export async function testConfig(s: Pick<SharedBuild, 'namespace'>, cwd: string, overrides: { outDir: string; cacheDir: string; logDir: string }): Promise<ResolvedConfig> {
  const c = await loadConfig({ cwd, env: {}, overrides });
  return { ...c, docker: { ...c.docker, namespace: s.namespace } };
}

/**
 * Registers the hooks that hold the run's lock for this file and fill in the shared build;
 * the returned object is complete when the file's first test starts, and `ready` gets it at
 * the end of the same hook (ava runs a file's before hooks concurrently, so a hook of the
 * file's own would run before the build is there).
 */
export function useSharedBuild(test: TestFn, ready: (s: SharedBuild) => void = () => {}): SharedBuild {
  const s = {
    shared: root,
    out: path.join(root, 'dist'),
    cache: path.join(root, 'cache'),
    testConfig: (cwd, overrides) => testConfig(s, cwd, overrides),
    cliProject: (t) => cliProject(s, t),
  } as SharedBuild;
  test.before(async () => {
    await lock();
    const failed = await readFile(path.join(root, 'failed'), 'utf8').catch(() => undefined);
    if (failed !== undefined) throw new Error(`the shared build failed in another file: ${failed}`);
    const { namespace, cold } = await state();
    Object.assign(s, { namespace, cold, catalog: await loadCatalog() });
    s.debianTargets = s.catalog.targets.filter(isVirtualRouter);
    const reportFile = path.join(root, 'first.json');
    const report = await readJson<BuildReport>(reportFile);
    if (report) {
      s.first = report;
      ready(s);
      return;
    }
    const config = await testConfig(s, root, { outDir: s.out, cacheDir: s.cache, logDir: path.join(root, 'logs') });
    try {
      s.first = await build(config, s.catalog, { targets: s.debianTargets.map((x) => x.name) }, { renderer: 'silent' });
    } catch (e) {
      await writeFile(path.join(root, 'failed'), (e as Error).message);
      throw e;
    }
    await writeFile(reportFile, JSON.stringify(s.first));
    ready(s);
  });
  test.after.always(unlock);
  return s;
}

/** A test folder whose config points the CLI at the run's images, as a user's project would. */
export async function cliProject(s: Pick<SharedBuild, 'namespace'>, t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'fwbuild.config.json'), JSON.stringify({ docker: { namespace: s.namespace } }));
  return dir;
}
