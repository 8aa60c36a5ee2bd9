import { cp, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Target } from '../catalog/target.js';
import type { ResolvedConfig } from '../config/config.js';
import type { ImageResult } from '../docker/base-image.js';
import { BuildError } from '../errors.js';
import type { TargetPlan } from '../provider.js';
import type { CompileStep } from '../toolkit/steps.js';
import { hashTree, listFiles, sha256File } from '../util/hash.js';
import { projectPath, targetSlug } from '../util/paths.js';
import { publishDir } from '../util/publish.js';
import { fwbuildVersion } from '../version.js';
import { describeArtifact, writeManifest, writeSha256sums, type Artifact, type Manifest } from '../toolkit/manifest.js';
import { displayPath, quickjsSource } from './sources.js';

/** Overlay folders for a target, layered common -> provider -> target, later layers winning. */
export async function overlayLayers(target: Target): Promise<string[]> {
  const dirs: string[] = [];
  for (const layer of ['common', target.provider, targetSlug(target.name)]) {
    const dir = projectPath('overlays', layer);
    if ((await stat(dir).catch(() => undefined))?.isDirectory()) dirs.push(dir);
  }
  return dirs;
}

/** Where a target's folder is assembled before it replaces dist/<target> in one rename. */
export const stagingDir = (config: ResolvedConfig, target: Target, runId: string): string =>
  path.join(config.outDir, `.${targetSlug(target.name)}.tmp-${runId}`);

export interface PublishInput {
  plan: TargetPlan;
  steps: CompileStep[];
  /** the run's work folder: <workRoot>/<target>/<step> holds each step's outputs */
  workRoot: string;
  runId: string;
  config: ResolvedConfig;
  sourceDateEpoch: number;
  images: { base: ImageResult; toolchain: ImageResult };
}

/** Gathers the steps' outputs into the target's dist folder, with sha256sums and manifest.json. */
export async function publishTarget(input: PublishInput): Promise<Artifact[]> {
  const { plan, steps, workRoot, config } = input;
  const target = plan.target;
  const slug = targetSlug(target.name);
  const staged = stagingDir(config, target, input.runId);
  await rm(staged, { recursive: true, force: true });
  await mkdir(staged, { recursive: true });
  // the overlay first: a step's own layer (the runner's settings for a choice of inference) goes over it
  const layerDirs = await overlayLayers(target);
  for (const dir of layerDirs) await cp(dir, path.join(staged, 'overlay'), { recursive: true, preserveTimestamps: false });
  const artifacts: Artifact[] = [];
  for (const step of steps.filter((s) => s.publish !== false)) {
    const from = path.join(workRoot, slug, step.name, step.outputs.dir);
    const files = await listFiles(from).catch(() => []);
    if (files.length === 0) throw new BuildError(`step ${slug}/${step.name} produced nothing in ${step.outputs.dir}/`);
    for (const f of files) {
      const rel = path.join(step.outputs.dir, f);
      await cp(path.join(from, f), path.join(staged, rel), { preserveTimestamps: false });
      artifacts.push(await describeArtifact(staged, rel, step.outputs.kind, target));
    }
  }
  const layers = layerDirs.map((d) => path.basename(d));
  const qjs = await quickjsSource();
  const { base, toolchain } = input.images;
  const manifest: Manifest = {
    fwbuild: fwbuildVersion,
    target: target.name,
    provider: target.provider,
    profile: plan.profile,
    sourceDateEpoch: input.sourceDateEpoch,
    artifacts,
    inputs: {
      baseImage: { ref: base.ref, id: base.id },
      toolchainImage: { ref: toolchain.ref, id: toolchain.id },
      quickjs: {
        npm: qjs.npm,
        integrity: qjs.integrity,
        version: qjs.version,
        patches: await Promise.all(
          qjs.patches.map(async (p) => ({ file: `runner/${p}`, sha256: await sha256File(projectPath('runner', p)) })),
        ),
      },
      model: { file: displayPath(config.model), sha256: await sha256File(config.model) },
      overlays: Object.fromEntries(await Promise.all(layers.map(async (l) => [l, await hashTree(projectPath('overlays', l))] as const))),
      sources: {
        bpf: await hashTree(projectPath('bpf')),
        runner: await hashTree(projectPath('runner')),
        target: await sha256File(projectPath('targets', `${slug}.json`)),
      },
    },
  };
  // the provider's part: an OpenWrt release and its images, a virtual router's QEMU command line
  const extra = await plan.manifest(staged, artifacts);
  if (extra.inputs) manifest.inputs = { ...manifest.inputs, ...extra.inputs };
  if (extra.qemu) manifest.qemu = extra.qemu;
  await writeManifest(staged, manifest);
  await writeSha256sums(staged);
  await publishDir(staged, path.join(config.outDir, slug));
  return artifacts;
}
