import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Listr, type ListrTask } from 'listr2';
import type { Catalog } from '../catalog/load.js';
import type { Target } from '../catalog/target.js';
import type { ResolvedConfig } from '../config/config.js';
import { BuildError, InterruptedError, UsageError } from '../errors.js';
import type { ImageResult } from '../docker/base-image.js';
import { connectEngine } from '../docker/engine.js';
import { BUILD_UID, reapRun, StepContainer } from '../docker/step-container.js';
import { ensureBase, ensureToolchainOn } from '../docker/toolchain.js';
import { prepareNpmSource, type NpmSource } from '../sources/npm-source.js';
import { resolveEpoch, type Epoch } from '../util/epoch.js';
import { hashTree, listFiles, sha256, sha256File } from '../util/hash.js';
import { projectPath, projectRoot, targetSlug } from '../util/paths.js';
import { chownTree, publishDir } from '../util/publish.js';
import { StepLog } from '../util/steplog.js';
import { fwbuildVersion } from '../version.js';
import { describeArtifact, writeManifest, writeSha256sums, type Artifact, type Manifest } from './manifest.js';
import { StepCache } from './step-cache.js';
import { diffLock, readLock, writeLock, type LockData } from '../lock/lockfile.js';
import { resolveLock } from '../lock/resolve.js';
import { qemuCommand, TAP } from '../vrouter/qemu-command.js';
import { readRouterConf } from '../vrouter/router-conf.js';
import { sourceMounts, toolkitSteps, type CompileStep, type SourceName } from './toolkit-steps.js';
import { openwrtSteps } from './openwrt-steps.js';
import { fetchOpenWrt, withOpenWrtEntry, type FetchReport } from '../openwrt/fetch.js';
import { ensureOpenWrtImage } from '../openwrt/images.js';
import { packageFormat } from '../openwrt/package.js';

export interface BuildRequest {
  /** Catalog names or aliases; resolved and checked before anything runs. */
  targets: string[];
  profile?: string;
}

export interface BuildOptions {
  signal?: AbortSignal;
  /** listr2 renderer: `default` (tree on a TTY, lines otherwise) or `silent` (for --json). */
  renderer?: 'default' | 'simple' | 'silent';
  /** Label for this run's containers; random unless given (tests pass one to find them). */
  runId?: string;
  /** CI mode: fail before any step if the resolved inputs differ from fwbuild.lock; never write it. */
  frozen?: boolean;
}

export interface StepReport {
  name: string;
  /** `cached`: the outputs came from the step cache and no container was started. */
  status: 'ran' | 'cached';
  seconds: number;
  /** The content address of the step: a hash of everything that can change its outputs. */
  key: string;
  log?: string;
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

interface Planned {
  target: Target;
  profile: string;
  /** OpenWrt targets: the debian target of the same CPU, whose toolchain writes the BPF objects and bytecode */
  twin?: Target;
}

/** Checks the whole request against the catalog before any work starts: bad input costs nothing. */
export function planBuild(catalog: Catalog, req: BuildRequest): Planned[] {
  if (req.targets.length === 0) {
    throw new UsageError('no target given: pass --target NAME or set "target" in the config', 'run `fwbuild targets` to list them');
  }
  return req.targets.map((name) => {
    const target = catalog.resolve(name);
    if (target.provider === 'openwrt') {
      // the profile is checked against the release's profiles.json once that is fetched
      if (!req.profile) {
        throw new UsageError(
          `an OpenWrt target needs --profile (the device): fwbuild --target ${target.name} --profile NAME`,
          `fwbuild fetch --target ${target.name} lists the release's profiles`,
        );
      }
      if (!target.twin) throw new BuildError(`target ${target.name} names no twin in its catalog entry: the debian target of its CPU`);
      return { target, profile: req.profile, twin: catalog.resolve(target.twin) };
    }
    const profiles = target.profiles ?? [];
    const profile = req.profile ?? profiles[0]!;
    if (!profiles.includes(profile)) {
      throw new UsageError(`unknown profile "${profile}" for target ${target.name}; accepted: ${profiles.join(', ')}`);
    }
    return { target, profile };
  });
}

interface Ctx {
  docker?: Docker;
  base?: ImageResult;
  toolchain?: ImageResult;
  quickjsDir?: string;
  /** Hashes of the mounted source trees, computed once per run. */
  inputHashes?: Record<SourceName, string>;
  /** Step keys per target, so later steps can depend on earlier ones. */
  keys: Map<string, string>;
  lock?: LockData;
  lockChanges?: string[];
  /** per OpenWrt target: what was fetched and the SDK and ImageBuilder images made from it */
  openwrt: Map<string, { fetch: FetchReport; sdk?: ImageResult; imagebuilder?: ImageResult }>;
  reports: TargetReport[];
}

const quickjsSource = async (): Promise<NpmSource & { version: string; patches: string[] }> =>
  JSON.parse(await readFile(projectPath('runner', 'quickjs.json'), 'utf8')) as NpmSource & { version: string; patches: string[] };

/**
 * Builds the toolkit for each requested target: base and toolchain images (reused by input
 * hash), the pinned QuickJS source, then the compile steps in containers, and publishes
 * `<outDir>/<target>/` with sha256sums and manifest.json only once everything succeeded.
 */
export async function build(
  config: ResolvedConfig,
  catalog: Catalog,
  req: BuildRequest,
  options: BuildOptions = {},
): Promise<BuildReport> {
  const started = Date.now();
  const planned = planBuild(catalog, req);
  if (!(await stat(config.model).catch(() => undefined))?.isFile()) {
    throw new UsageError(`model ${config.model} does not exist`, 'set "model" in the config to a .js file that defines predict(features)');
  }
  await checkReadableByBuildUser([projectPath('bpf'), projectPath('runner'), projectPath('targets', 'kernels'), projectPath('overlays'), config.model]);
  const signal = options.signal ?? new AbortController().signal;
  const runId = options.runId ?? randomBytes(6).toString('hex');
  const epoch = resolveEpoch(config.sourceDateEpoch);
  const workRoot = path.join(config.cacheDir, 'work', runId);
  const runner = (docker: Docker): StepContainer => new StepContainer(docker, runId, signal);
  const ctx: Ctx = { reports: [], keys: new Map(), openwrt: new Map() };
  const cache = new StepCache(config.cacheDir);

  const imageTasks: ListrTask<Ctx>[] = [
    {
      title: 'Docker engine',
      task: async (c, task) => {
        c.docker = await connectEngine(config.docker);
        const v = await c.docker.version();
        task.title = `Docker engine ${v.Version} (API ${v.ApiVersion})`;
      },
    },
    // OpenWrt downloads come early: an unknown profile or an unreachable server costs no image build
    ...planned
      .filter((p) => p.target.provider === 'openwrt')
      .map(
        (p): ListrTask<Ctx> => ({
          title: `OpenWrt ${config.openwrt.release} for ${p.target.name} (${p.profile}): signed sums, profile, SDK, ImageBuilder`,
          task: async (c, task) => {
            const fetched = await fetchOpenWrt(config, catalog, { target: p.target.name, profile: p.profile, signal, say: (s) => (task.output = s), record: false });
            c.openwrt.set(targetSlug(p.target.name), { fetch: fetched });
            task.title = `OpenWrt ${fetched.release.version} ${fetched.dir} for ${fetched.profile.id} (sha256sums signed by ${fetched.signedBy})`;
          },
          rendererOptions: { persistentOutput: true },
        }),
      ),
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
        c.toolchain = await ensureToolchainOn(c.docker!, c.base!, config, {
          signal,
          sourceDateEpoch: epoch.value,
          say: (s) => (task.output = s),
        });
        task.title = `Toolchain image ${c.toolchain.ref} (${c.toolchain.built ? 'built' : 'reused'})`;
      },
    },
    {
      title: 'QuickJS source (pinned, verified)',
      task: async (c, task) => {
        const src = await quickjsSource();
        c.quickjsDir = await prepareNpmSource(src, config.cacheDir, signal);
        task.title = `QuickJS ${src.version} from ${src.npm} (integrity verified)`;
        // Everything a compile step can read: a change to any of it changes the step keys.
        c.inputHashes = {
          bpf: await hashTree(projectPath('bpf')),
          runner: await hashTree(projectPath('runner')),
          quickjs: src.integrity,
          model: await sha256File(config.model),
          // per target; the target entry (in every key) names the file
          kernelConfig: await hashTree(projectPath('targets', 'kernels')),
          // modes count: an init script must stay executable in the image
          overlays: await hashTree(projectPath('overlays'), { modes: true }),
        };
      },
    },
    {
      title: `Lock file ${path.relative(process.cwd(), config.lockFile) || config.lockFile}`,
      task: async (c, task) => {
        const old = await readLock(config.lockFile);
        // a build resolves the Debian side and the OpenWrt targets it builds; the rest of the lock stays
        c.lock = { ...(await resolveLock(c.docker!, config, c.base!, c.toolchain!, await quickjsSource())), ...(old?.openwrt ? { openwrt: old.openwrt } : {}) };
        for (const [, o] of c.openwrt) c.lock = withOpenWrtEntry(c.lock, o.fetch.target, o.fetch.entry).next;
        c.lockChanges = old ? diffLock(old, c.lock) : ['(new lock file)'];
        if (options.frozen) {
          if (!old) {
            throw new BuildError(
              `--frozen: there is no ${config.lockFile}`,
              'build once without --frozen to write it, and commit it',
            );
          }
          if (c.lockChanges.length > 0) {
            throw new BuildError(
              `--frozen: the inputs differ from ${config.lockFile}:\n  ${c.lockChanges.slice(0, 20).join('\n  ')}` +
                (c.lockChanges.length > 20 ? `\n  … and ${c.lockChanges.length - 20} more` : ''),
              'build without --frozen to update the lock, review the change, and commit it',
            );
          }
        }
        task.title = `Lock file ${c.lockChanges.length ? `(${c.lockChanges.length} change${c.lockChanges.length > 1 ? 's' : ''})` : '(unchanged)'}`;
      },
    },
  ];

  /** An OpenWrt target's steps depend on its release's package format, known once the release is fetched. */
  const stepsOf = (p: Planned, c: Ctx): CompileStep[] =>
    p.twin
      ? openwrtSteps(p.target, p.twin, fwbuildVersion, {
          profile: p.profile,
          packages: config.openwrt.packages,
          format: packageFormat(c.openwrt.get(targetSlug(p.target.name))!.fetch.release),
          ...(config.openwrt.offline ? {} : { mirror: config.openwrt.mirrors[0]! }),
        })
      : toolkitSteps(p.target, fwbuildVersion);

  /** The SDK and ImageBuilder images of an OpenWrt target, from its verified tarballs (reused by hash). */
  const openwrtImageTasks = (target: Target): ListrTask<Ctx>[] =>
    target.provider !== 'openwrt'
      ? []
      : (['sdk', 'imagebuilder'] as const).map((kit) => ({
          title: `OpenWrt ${kit === 'sdk' ? 'SDK' : 'ImageBuilder'} image`,
          task: async (c, sub) => {
            const slug = targetSlug(target.name);
            const o = c.openwrt.get(slug)!;
            const tarball = kit === 'sdk' ? o.fetch.sdk : o.fetch.imageBuilder;
            const image = await ensureOpenWrtImage(c.docker!, c.base!, kit, tarball, {
              log: await StepLog.open(config.logDir, slug, `${kit}-image`),
              signal,
              say: (s) => (sub.output = s),
              sourceDateEpoch: epoch.value,
              namespace: config.docker.namespace,
              tmpDir: config.cacheDir,
            });
            o[kit] = image;
            sub.title = `OpenWrt ${kit === 'sdk' ? 'SDK' : 'ImageBuilder'} image ${image.ref} (${image.built ? 'built' : 'reused'}) from ${tarball.name}`;
          },
        }));

  const targetTasks: ListrTask<Ctx>[] = planned.map((p) => {
    const { target, profile } = p;
    return {
      title: `${target.name} (${profile})`,
      task: (ctx, task) => {
        const steps = stepsOf(p, ctx);
        return task.newListr(
          [
            ...openwrtImageTasks(target),
            ...steps.map(
              (step): ListrTask<Ctx> => ({
                title: step.title,
                task: async (c, sub) => {
                  const slug = targetSlug(target.name);
                  const out = path.join(workRoot, slug, step.name);
                  const t0 = Date.now();
                  const image = imageOf(c, slug, step);
                  const key = sha256(
                    JSON.stringify({
                      fwbuild: fwbuildVersion,
                      step: step.name,
                      cmd: step.cmd,
                      image: image.id,
                      epoch: epoch.value,
                      // every target value a step uses is in its command line (triple, cflags,
                      // kernel package…), so catalog edits that do not change it rebuild nothing
                      inputs: step.reads.map((r) => c.inputHashes![r]),
                      after: (step.after ?? []).map((s) => c.keys.get(`${slug}/${s}`)),
                    }),
                  );
                  c.keys.set(`${slug}/${step.name}`, key);
                  const report = targetReport(c, target.name, profile, config);
                  if (await cache.restore(key, out)) {
                    sub.title = `${step.title} (cached)`;
                    report.steps.push({ name: step.name, status: 'cached', seconds: (Date.now() - t0) / 1000, key });
                    return;
                  }
                  await mkdir(out, { recursive: true });
                  const afterDirs = Object.fromEntries((step.after ?? []).map((s) => [s, path.join(workRoot, slug, s)]));
                  if (step.host) {
                    await step.host({ out, after: afterDirs, overlays: await overlayLayers(target), sourceDateEpoch: epoch.value });
                    await cache.store(key, out);
                    report.steps.push({ name: step.name, status: 'ran', seconds: (Date.now() - t0) / 1000, key });
                    return;
                  }
                  if (process.getuid?.() === 0) await chownTree(out, BUILD_UID, BUILD_UID);
                  const log = await StepLog.open(config.logDir, slug, step.name);
                  const run = runner(c.docker!).run(
                    {
                      step: step.name,
                      scope: slug,
                      image: image.ref,
                      cmd: step.cmd,
                      network: !!step.network,
                      mounts: [
                        ...sourceMounts(
                          {
                            bpf: projectPath('bpf'),
                            runner: projectPath('runner'),
                            quickjs: c.quickjsDir!,
                            model: config.model,
                            kernelConfig: kernelConfigPath(target),
                            overlays: projectPath('overlays'),
                          },
                          step.reads,
                        ),
                        ...Object.entries(afterDirs).map(([s, host]) => ({ host, container: `/in/${s}`, readOnly: true })),
                        { host: out, container: '/out', readOnly: false },
                      ],
                      env: { SOURCE_DATE_EPOCH: String(epoch.value), HOME: '/tmp', LC_ALL: 'C.UTF-8', TZ: 'UTC' },
                    },
                    log,
                    (line) => (sub.output = line),
                  );
                  await explained(step, log, run);
                  await cache.store(key, out);
                  report.steps.push({ name: step.name, status: 'ran', seconds: (Date.now() - t0) / 1000, key, log: log.file });
                },
              }),
            ),
            {
              title: `publish ${path.relative(process.cwd(), path.join(config.outDir, targetSlug(target.name))) || '.'}`,
              task: async (c) => {
                const report = targetReport(c, target.name, profile, config);
                report.artifacts = await publishTarget(target, profile, steps, c, workRoot, config, epoch);
              },
            },
          ],
          { exitOnError: true },
        );
      },
    };
  });

  const listr = new Listr<Ctx, 'default' | 'simple' | 'silent', 'simple'>([...imageTasks, ...targetTasks], {
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
    for (const { target } of planned) {
      await rm(stagingDir(config, target, runId), { recursive: true, force: true });
    }
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
    targets: ctx.reports,
    seconds: (Date.now() - started) / 1000,
  };
}

function targetReport(c: Ctx, name: string, profile: string, config: ResolvedConfig): TargetReport {
  let r = c.reports.find((x) => x.target === name);
  if (!r) {
    r = { target: name, profile, outDir: path.join(config.outDir, targetSlug(name)), artifacts: [], steps: [] };
    c.reports.push(r);
  }
  return r;
}

/**
 * Steps run as an unprivileged user and read the sources through read-only mounts: a checkout
 * made under umask 077 would fail deep inside a step. Say so before anything runs.
 */
async function checkReadableByBuildUser(roots: string[]): Promise<void> {
  const bad: string[] = [];
  const visit = async (p: string): Promise<void> => {
    const st = await stat(p);
    if (!(st.mode & 0o004) || (st.isDirectory() && !(st.mode & 0o001))) bad.push(displayPath(p));
    if (st.isDirectory()) for (const e of (await readdir(p)).sort()) await visit(path.join(p, e));
  };
  for (const r of roots) await visit(r);
  if (bad.length > 0) {
    throw new UsageError(
      `the build user (uid ${BUILD_UID}) cannot read ${bad.length} source path(s): ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}`,
      `make them world-readable: chmod -R a+rX ${[...new Set(bad.map((b) => b.split(path.sep)[0]))].join(' ')}`,
    );
  }
}

/** Overlay folders for a target, layered common -> provider -> target, later layers winning. */
async function overlayLayers(target: Target): Promise<string[]> {
  const dirs: string[] = [];
  for (const layer of ['common', target.provider, targetSlug(target.name)]) {
    const dir = projectPath('overlays', layer);
    if ((await stat(dir).catch(() => undefined))?.isDirectory()) dirs.push(dir);
  }
  return dirs;
}

const kernelConfigPath = (t: Target): string => projectPath('targets', 'kernels', `${t.kernel?.config ?? 'none'}.config`);

/** Paths inside the checkout are recorded relative to it, so manifests do not depend on where it lives. */
const displayPath = (p: string): string => (p.startsWith(projectRoot + path.sep) ? path.relative(projectRoot, p) : p);

const stagingDir = (config: ResolvedConfig, target: Target, runId: string): string =>
  path.join(config.outDir, `.${targetSlug(target.name)}.tmp-${runId}`);

/** Gathers the steps' outputs into the target's dist folder, with sha256sums and manifest.json. */
async function publishTarget(
  target: Target,
  profile: string,
  steps: CompileStep[],
  c: Ctx,
  workRoot: string,
  config: ResolvedConfig,
  epoch: Epoch,
): Promise<Artifact[]> {
  const slug = targetSlug(target.name);
  const staged = stagingDir(config, target, path.basename(workRoot));
  await rm(staged, { recursive: true, force: true });
  await mkdir(staged, { recursive: true });
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
  const layerDirs = await overlayLayers(target);
  for (const dir of layerDirs) await cp(dir, path.join(staged, 'overlay'), { recursive: true, preserveTimestamps: false });
  const layers = layerDirs.map((d) => path.basename(d));
  const qjs = await quickjsSource();
  const manifest: Manifest = {
    fwbuild: fwbuildVersion,
    target: target.name,
    provider: target.provider,
    profile,
    sourceDateEpoch: epoch.value,
    artifacts,
    inputs: {
      baseImage: { ref: c.base!.ref, id: c.base!.id },
      toolchainImage: { ref: c.toolchain!.ref, id: c.toolchain!.id },
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
  const ow = c.openwrt.get(slug);
  if (ow) {
    const kit = (f: { name: string; sha256: string }, image: ImageResult | undefined) => ({ name: f.name, sha256: f.sha256, image: { ref: image!.ref, id: image!.id } });
    manifest.inputs.openwrt = {
      release: ow.fetch.release.version,
      dir: ow.fetch.dir,
      signedBy: ow.fetch.signedBy,
      packages: config.openwrt.packages,
      sdk: kit(ow.fetch.sdk, ow.sdk),
      imageBuilder: kit(ow.fetch.imageBuilder, ow.imagebuilder),
    };
  }
  const kernel = artifacts.find((a) => a.kind === 'kernel' && /^kernel\/vmlinu/.test(a.path));
  const initramfs = artifacts.find((a) => a.kind === 'initramfs');
  if (target.qemu && kernel && initramfs) {
    const ports = await readRouterConf(path.join(staged, 'overlay'));
    manifest.qemu = {
      argv: qemuCommand(target.qemu, { kernel: kernel.path, initramfs: initramfs.path }, ports),
      taps: `${TAP.lan} and ${TAP.wan} are tap devices for the LAN and WAN ports (fwbuild test creates them); run from this folder`,
    };
  }
  await writeManifest(staged, manifest);
  await writeSha256sums(staged);
  await publishDir(staged, path.join(config.outDir, slug));
  return artifacts;
}

/** The image a step runs in: the toolchain, or the target's OpenWrt SDK or ImageBuilder. */
function imageOf(c: Ctx, slug: string, step: CompileStep): ImageResult {
  if (!step.image || step.image === 'toolchain') return c.toolchain!;
  const image = c.openwrt.get(slug)?.[step.image];
  if (!image) throw new BuildError(`step ${slug}/${step.name} needs the ${step.image} image, which was not made`);
  return image;
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
