import type Docker from 'dockerode';
import type { Catalog } from './catalog/load.js';
import type { ProviderName, Target } from './catalog/target.js';
import type { ResolvedConfig } from './config/config.js';
import type { ImageResult } from './docker/base-image.js';
import type { Check } from './doctor-check.js';
import type { LockData } from './lock/lockfile.js';
import type { Artifact, ManifestInputs, Manifest } from './toolkit/manifest.js';
import type { CompileStep } from './toolkit/steps.js';
import { debianProvider } from './debian/provider.js';
import { openwrtProvider } from './openwrt/provider.js';

/**
 * A provider is everything one way of making a router image knows: its catalog rules, its
 * downloads, the images its steps run in, its steps, what it adds to the manifest and the lock,
 * and its `doctor` checks. The pipeline asks the target's provider and never branches on its
 * name; a new provider is a folder under builder/ with a `provider.ts`, a schema in
 * catalog/target.ts and a line in the registry below.
 */
export interface Provider<T extends Target = Target> {
  readonly name: ProviderName;
  /** Rules a catalog row must meet beyond its schema, against the whole catalog: one message per broken rule. */
  check(target: T, all: readonly Target[]): string[];
  /** Checks the request for one target before anything runs; a bad profile costs nothing. */
  plan(target: T, profile: string | undefined, env: PlanEnv): TargetPlan;
  /** Host checks for this provider's targets (fwbuild doctor). */
  doctor?(targets: readonly T[]): Promise<Check[]>;
}

export interface PlanEnv {
  catalog: Catalog;
  config: ResolvedConfig;
  fwVersion: string;
  signal: AbortSignal;
  sourceDateEpoch: number;
}

/** What a job gets when it runs: the engine and base image exist by then. */
export interface JobEnv {
  docker: Docker;
  base: ImageResult;
  say: (line: string) => void;
}

/** One unit of work the pipeline shows as a task; `run` returns the task's final title. */
export interface Job {
  title: string;
  run(env: JobEnv): Promise<string>;
}

/** One target's build, as its provider plans it; the pipeline runs it. */
export interface TargetPlan {
  readonly target: Target;
  readonly profile: string;
  /** Downloads and checks that come before any image is built: an unknown device or an unreachable server costs no image build. */
  readonly fetch: Job[];
  /** Images the target's steps run in besides the toolchain, made from what `fetch` verified. */
  readonly images: Job[];
  /** The steps, known once `fetch` has run (an OpenWrt release's package format decides them). */
  steps(): CompileStep[];
  /** The kernel config fragment (targets/kernels/NAME.config) its steps read, when it builds a kernel. */
  readonly kernelConfig?: string;
  /** The image a step names in `image` (other than the toolchain), once `images` has run. */
  image(name: NonNullable<CompileStep['image']>): ImageResult | undefined;
  /** The lock with what this target resolved (its downloads). */
  lock(lock: LockData): LockData;
  /** What the target adds to manifest.json, read from the staged folder. */
  manifest(staged: string, artifacts: Artifact[]): Promise<ManifestExtra>;
}

export interface ManifestExtra {
  inputs?: Partial<ManifestInputs>;
  qemu?: Manifest['qemu'];
}

const providers: { readonly [K in ProviderName]: Provider<Extract<Target, { provider: K }>> } = {
  debian: debianProvider,
  openwrt: openwrtProvider,
};

export const providerNames = Object.keys(providers) as ProviderName[];

/** The provider of a target; each provider only ever receives rows whose `provider` names it. */
export function providerOf<T extends Target>(target: T): Provider<T> {
  // TypeScript cannot tie providers[target.provider] to T's own member of the union; the key is the row's own field.
  return providers[target.provider] as unknown as Provider<T>;
}

/** Every provider with its rows of the catalog, for checks that look at a provider's targets together. */
export function byProvider(targets: readonly Target[]): { provider: Provider; targets: Target[] }[] {
  return providerNames.map((name) => ({
    provider: providers[name] as unknown as Provider,
    targets: targets.filter((t) => t.provider === name),
  }));
}
