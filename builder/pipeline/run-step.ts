import type Docker from 'dockerode';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../config/config.js';
import type { ImageResult } from '../docker/base-image.js';
import { BUILD_UID, StepContainer } from '../docker/step-container.js';
import { BuildError, InterruptedError } from '../errors.js';
import type { TargetPlan } from '../provider.js';
import { sourceMounts, type CompileStep, type SourceName } from '../toolkit/steps.js';
import { sha256 } from '../util/hash.js';
import { targetSlug } from '../util/paths.js';
import { chownTree } from '../util/publish.js';
import { StepLog } from '../util/steplog.js';
import { fwbuildVersion } from '../version.js';
import { overlayLayers } from './publish.js';
import { sourcePaths } from './sources.js';
import type { StepCache } from './step-cache.js';

export interface StepReport {
  name: string;
  /** `cached`: the outputs came from the step cache and no container was started. */
  status: 'ran' | 'cached';
  seconds: number;
  /** The content address of the step: a hash of everything that can change its outputs. */
  key: string;
  log?: string;
}

export interface StepRunnerOptions {
  docker: Docker;
  toolchain: ImageResult;
  runId: string;
  signal: AbortSignal;
  cache: StepCache;
  config: ResolvedConfig;
  /** <workRoot>/<target>/<step> receives each step's outputs */
  workRoot: string;
  sourceDateEpoch: number;
  quickjsDir: string;
  /** hashes of the mountable sources, computed once per run */
  inputHashes: Record<SourceName, string>;
}

/**
 * Runs compile steps: each is addressed by a hash of everything that can change its outputs,
 * restored from the step cache when that hash is known, else run on the host or in a step
 * container, and stored.
 */
export class StepRunner {
  /** step keys per `<target>/<step>`, so later steps depend on earlier ones */
  private readonly keys = new Map<string, string>();

  constructor(private readonly o: StepRunnerOptions) {}

  async run(plan: TargetPlan, step: CompileStep, say: (line: string) => void): Promise<StepReport> {
    const { o } = this;
    const slug = targetSlug(plan.target.name);
    const out = path.join(o.workRoot, slug, step.name);
    const t0 = Date.now();
    const seconds = (): number => (Date.now() - t0) / 1000;
    const image = this.imageOf(plan, step);
    const key = sha256(
      JSON.stringify({
        fwbuild: fwbuildVersion,
        step: step.name,
        cmd: step.cmd,
        image: image.id,
        epoch: o.sourceDateEpoch,
        // every target value a step uses is in its command line (triple, cflags,
        // kernel package…), so catalog edits that do not change it rebuild nothing
        inputs: step.reads.map((r) => o.inputHashes[r]),
        after: (step.after ?? []).map((s) => this.keys.get(`${slug}/${s}`)),
      }),
    );
    this.keys.set(`${slug}/${step.name}`, key);
    if (await o.cache.restore(key, out)) return { name: step.name, status: 'cached', seconds: seconds(), key };

    await mkdir(out, { recursive: true });
    const afterDirs = Object.fromEntries((step.after ?? []).map((s) => [s, path.join(o.workRoot, slug, s)]));
    if (step.host) {
      await step.host({ out, after: afterDirs, overlays: await overlayLayers(plan.target), sourceDateEpoch: o.sourceDateEpoch });
      await o.cache.store(key, out);
      return { name: step.name, status: 'ran', seconds: seconds(), key };
    }
    if (process.getuid?.() === 0) await chownTree(out, BUILD_UID, BUILD_UID);
    const log = await StepLog.open(o.config.logDir, slug, step.name);
    const run = new StepContainer(o.docker, o.runId, o.signal).run(
      {
        step: step.name,
        scope: slug,
        image: image.ref,
        cmd: step.cmd,
        network: !!step.network,
        mounts: [
          ...sourceMounts(sourcePaths(o.config, o.quickjsDir, plan.kernelConfig), step.reads),
          ...Object.entries(afterDirs).map(([s, host]) => ({ host, container: `/in/${s}`, readOnly: true })),
          { host: out, container: '/out', readOnly: false },
        ],
        env: { SOURCE_DATE_EPOCH: String(o.sourceDateEpoch), HOME: '/tmp', LC_ALL: 'C.UTF-8', TZ: 'UTC' },
      },
      log,
      say,
    );
    await explained(step, log, run);
    await o.cache.store(key, out);
    return { name: step.name, status: 'ran', seconds: seconds(), key, log: log.file };
  }

  /** The image a step runs in: the toolchain, or one its target's provider made (an OpenWrt SDK or ImageBuilder). */
  private imageOf(plan: TargetPlan, step: CompileStep): ImageResult {
    if (!step.image || step.image === 'toolchain') return this.o.toolchain;
    const image = plan.image(step.image);
    if (!image) throw new BuildError(`step ${targetSlug(plan.target.name)}/${step.name} needs the ${step.image} image, which was not made`);
    return image;
  }
}

/**
 * A step's known failures in plain words: ImageBuilder's "is too big" is only a warning with
 * exit 0, and an impossible package selection is buried in opkg's output.
 */
async function explained(step: CompileStep, log: StepLog, run: Promise<void>): Promise<void> {
  const failure = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (failure instanceof InterruptedError) throw failure;
  const problems = step.explain ? step.explain(await readFile(log.file, 'utf8').catch(() => '')) : [];
  if (problems.length > 0) {
    throw new BuildError(`step ${step.name}: ${problems.join('\n  ')}`, undefined, log.file);
  }
  if (failure) throw failure;
}
