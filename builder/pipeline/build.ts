import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Listr, type ListrTask } from 'listr2';
import type { Catalog } from '../catalog/load.js';
import type { ResolvedConfig } from '../config/config.js';
import type { ImageResult } from '../docker/base-image.js';
import { connectEngine } from '../docker/engine.js';
import { reapRun } from '../docker/step-container.js';
import { ensureBase, ensureToolchainOn } from '../docker/toolchain.js';
import { BuildError, InterruptedError, UsageError } from '../errors.js';
import { diffLock, readLock, writeLock, type LockData } from '../lock/lockfile.js';
import { resolveLock } from '../lock/resolve.js';
import type { Job, TargetPlan } from '../provider.js';
import { prepareNpmSource } from '../sources/npm-source.js';
import { resolveEpoch, type Epoch } from '../util/epoch.js';
import { targetSlug } from '../util/paths.js';
import { fwbuildVersion } from '../version.js';
import type { Artifact } from '../toolkit/manifest.js';
import { planBuild, type BuildRequest } from './plan.js';
import { publishTarget, stagingDir } from './publish.js';
import { StepRunner, type StepReport } from './run-step.js';
import { checkReadableByBuildUser, quickjsSource, sourceHashes } from './sources.js';
import { StepCache } from './step-cache.js';

export type { BuildRequest } from './plan.js';
export type { StepReport } from './run-step.js';

export interface BuildOptions {
  signal?: AbortSignal;
  /** listr2 renderer: `default` (tree on a TTY, lines otherwise) or `silent` (for --json). */
  renderer?: 'default' | 'simple' | 'silent';
  /** Label for this run's containers; random unless given (tests pass one to find them). */
  runId?: string;
  /** CI mode: fail before any step if the resolved inputs differ from fwbuild.lock; never write it. */
  frozen?: boolean;
}

export interface TargetReport {
  target: string;
  profile: string;
  outDir: string;
  artifacts: Artifact[];
  steps: StepReport[];
}

export interface BuildReport {
  ok: true;
  runId: string;
  /** fwbuild.lock: where it is, and what this build changed in it (empty: nothing) */
  lock: { file: string; changes: string[]; written: boolean };
  sourceDateEpoch: Epoch;
  images: { base: ImageResult; toolchain: ImageResult };
  targets: TargetReport[];
  seconds: number;
}

/** What the tasks of one run share, filled in as they go. */
interface Ctx {
  docker?: Docker;
  base?: ImageResult;
  toolchain?: ImageResult;
  steps?: StepRunner;
  lock?: LockData;
  lockChanges?: string[];
}

/**
 * Builds the toolkit for each requested target, in the order a reader would: the plan (every
 * target checked by its provider before anything runs), the shared images and sources, then per
 * target its provider's images, its steps and the published folder.
 */
export async function build(config: ResolvedConfig, catalog: Catalog, req: BuildRequest, options: BuildOptions = {}): Promise<BuildReport> {
  const started = Date.now();
  const signal = options.signal ?? new AbortController().signal;
  const epoch = resolveEpoch(config.sourceDateEpoch);
  const plans = planBuild(catalog, req, { config, fwVersion: fwbuildVersion, signal, sourceDateEpoch: epoch.value });
  if (!(await stat(config.model).catch(() => undefined))?.isFile()) {
    throw new UsageError(`model ${config.model} does not exist`, 'set "model" in the config to a .js file that defines predict(features)');
  }
  await checkReadableByBuildUser(config);
  const runId = options.runId ?? randomBytes(6).toString('hex');
  const workRoot = path.join(config.cacheDir, 'work', runId);
  const reports: TargetReport[] = plans.map(({ target, profile }) => ({
    target: target.name,
    profile,
    outDir: path.join(config.outDir, targetSlug(target.name)),
    artifacts: [],
    steps: [],
  }));
  const ctx: Ctx = {};
  const jobTask = (job: Job): ListrTask<Ctx> => ({
    title: job.title,
    task: async (c, task) => {
      task.title = await job.run({ docker: c.docker!, base: c.base!, say: (s) => (task.output = s) });
    },
    rendererOptions: { persistentOutput: true },
  });

  const sharedTasks: ListrTask<Ctx>[] = [
    {
      title: 'Docker engine',
      task: async (c, task) => {
        c.docker = await connectEngine(config.docker);
        const v = await c.docker.version();
        task.title = `Docker engine ${v.Version} (API ${v.ApiVersion})`;
      },
    },
    // downloads come early: an unknown device or an unreachable server costs no image build
    ...plans.flatMap((p) => p.fetch.map(jobTask)),
    {
      title: `Base image (Debian ${config.debian.suite})`,
      task: async (c, task) => {
        c.base = await ensureBase(c.docker!, config, { signal, sourceDateEpoch: epoch.value, say: (s) => (task.output = s) });
        task.title = `Base image ${c.base.ref} ${c.base.built ? '(bootstrapped from Debian packages, no registry)' : '(reused)'}`;
      },
      rendererOptions: { persistentOutput: true },
    },
    {
      title: 'Toolchain image',
      task: async (c, task) => {
        c.toolchain = await ensureToolchainOn(c.docker!, c.base!, config, { signal, sourceDateEpoch: epoch.value, say: (s) => (task.output = s) });
        task.title = `Toolchain image ${c.toolchain.ref} (${c.toolchain.built ? 'built' : 'reused'})`;
      },
    },
    {
      title: 'QuickJS source (pinned, verified)',
      task: async (c, task) => {
        const src = await quickjsSource();
        const quickjsDir = await prepareNpmSource(src, config.cacheDir, signal);
        task.title = `QuickJS ${src.version} from ${src.npm} (integrity verified)`;
        c.steps = new StepRunner({
          docker: c.docker!,
          toolchain: c.toolchain!,
          runId,
          signal,
          cache: new StepCache(config.cacheDir),
          config,
          workRoot,
          sourceDateEpoch: epoch.value,
          quickjsDir,
          inputHashes: await sourceHashes(config, src),
        });
      },
    },
    {
      title: `Lock file ${path.relative(process.cwd(), config.lockFile) || config.lockFile}`,
      task: async (c, task) => {
        const { lock, changes } = await lockFor(config, plans, c, options.frozen);
        c.lock = lock;
        c.lockChanges = changes;
        task.title = `Lock file ${changes.length ? `(${changes.length} change${changes.length > 1 ? 's' : ''})` : '(unchanged)'}`;
      },
    },
  ];

  const targetTasks = plans.map(
    (plan, i): ListrTask<Ctx> => ({
      title: `${plan.target.name} (${plan.profile})`,
      task: (_ctx, task) => {
        const report = reports[i]!;
        const steps = plan.steps();
        return task.newListr(
          [
            ...plan.images.map(jobTask),
            ...steps.map(
              (step): ListrTask<Ctx> => ({
                title: step.title,
                task: async (c, sub) => {
                  const r = await c.steps!.run(plan, step, (line) => (sub.output = line));
                  if (r.status === 'cached') sub.title = `${step.title} (cached)`;
                  report.steps.push(r);
                },
              }),
            ),
            {
              title: `publish ${path.relative(process.cwd(), report.outDir) || '.'}`,
              task: async (c) => {
                report.artifacts = await publishTarget({
                  plan,
                  steps,
                  workRoot,
                  runId,
                  config,
                  sourceDateEpoch: epoch.value,
                  images: { base: c.base!, toolchain: c.toolchain! },
                });
              },
            },
          ],
          { exitOnError: true },
        );
      },
    }),
  );

  const listr = new Listr<Ctx, 'default' | 'simple' | 'silent', 'simple'>([...sharedTasks, ...targetTasks], {
    renderer: options.renderer ?? 'default',
    fallbackRenderer: 'simple',
    exitOnError: true,
    registerSignalListeners: false,
    rendererOptions: { collapseSubtasks: false },
  });
  try {
    await listr.run(ctx);
  } catch (e) {
    if (signal.aborted) throw new InterruptedError('SIGINT');
    throw e;
  } finally {
    if (ctx.docker) await reapRun(ctx.docker, runId).catch(() => 0);
    await rm(workRoot, { recursive: true, force: true });
    for (const { target } of plans) await rm(stagingDir(config, target, runId), { recursive: true, force: true });
  }
  if (signal.aborted) throw new InterruptedError('SIGINT');
  const changes = ctx.lockChanges ?? [];
  const written = !options.frozen && changes.length > 0;
  if (written) await writeLock(config.lockFile, ctx.lock!);
  return {
    ok: true,
    runId,
    lock: { file: config.lockFile, changes, written },
    sourceDateEpoch: epoch,
    images: { base: ctx.base!, toolchain: ctx.toolchain! },
    targets: reports,
    seconds: (Date.now() - started) / 1000,
  };
}

/**
 * The lock this build resolves: the Debian side, and each target's provider adds what it
 * fetched; entries of targets not built stay. With --frozen any change is an error.
 */
async function lockFor(config: ResolvedConfig, plans: TargetPlan[], c: Ctx, frozen: boolean | undefined): Promise<{ lock: LockData; changes: string[] }> {
  const old = await readLock(config.lockFile);
  let lock: LockData = { ...(await resolveLock(c.docker!, config, c.base!, c.toolchain!, await quickjsSource())), ...(old?.openwrt ? { openwrt: old.openwrt } : {}) };
  for (const p of plans) lock = p.lock(lock);
  const changes = old ? diffLock(old, lock) : ['(new lock file)'];
  if (frozen) {
    if (!old) throw new BuildError(`--frozen: there is no ${config.lockFile}`, 'build once without --frozen to write it, and commit it');
    if (changes.length > 0) {
      throw new BuildError(
        `--frozen: the inputs differ from ${config.lockFile}:\n  ${changes.slice(0, 20).join('\n  ')}` +
          (changes.length > 20 ? `\n  … and ${changes.length - 20} more` : ''),
        'build without --frozen to update the lock, review the change, and commit it',
      );
    }
  }
  return { lock, changes };
}
