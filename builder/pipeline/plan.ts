import type { Catalog } from '../catalog/load.js';
import { UsageError } from '../errors.js';
import { providerOf, type PlanEnv, type TargetPlan } from '../provider.js';

export interface BuildRequest {
  /** Catalog names or aliases; resolved and checked before anything runs. */
  targets: string[];
  profile?: string;
}

/** Checks the whole request against the catalog before any work starts: bad input costs nothing. */
export function planBuild(catalog: Catalog, req: BuildRequest, env: Omit<PlanEnv, 'catalog'>): TargetPlan[] {
  if (req.targets.length === 0) {
    throw new UsageError('no target given: pass --target NAME or set "target" in the config', 'run `fwbuild targets` to list them');
  }
  return req.targets.map((name) => {
    const target = catalog.resolve(name);
    return providerOf(target).plan(target, req.profile, { ...env, catalog });
  });
}
