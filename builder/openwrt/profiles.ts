import { BuildError, UsageError } from '../errors.js';
import { nearest } from '../util/suggest.js';

/** The parts of a target's profiles.json that fwbuild reads. */
export interface ProfilesJson {
  arch_packages: string;
  target: string;
  version_number: string;
  default_packages?: string[];
  profiles: Record<string, { device_packages?: string[]; supported_devices?: string[]; titles?: { vendor?: string; model?: string }[] }>;
}

/**
 * The ImageBuilder profile a `--profile` value names: a profile id (`tplink_archer-c7-v2`) or
 * one of its supported_devices (`tplink,archer-c7-v2`, the device-tree compatible). An unknown
 * value is refused with the nearest profile ids.
 */
export function findProfile(p: ProfilesJson, wanted: string): { id: string; devicePackages: string[] } {
  if (typeof p !== 'object' || p === null || typeof p.profiles !== 'object' || p.profiles === null || Array.isArray(p.profiles)) {
    throw new BuildError('profiles.json has no "profiles" object');
  }
  const ids = Object.keys(p.profiles);
  const id =
    (p.profiles[wanted] ? wanted : undefined) ?? ids.find((i) => p.profiles[i]!.supported_devices?.includes(wanted));
  if (!id) {
    const close = nearest(wanted, ids, 5);
    throw new UsageError(
      `unknown profile "${wanted}" for ${p.target} ${p.version_number} (${ids.length} profiles)`,
      close.length ? `nearest: ${close.join(', ')}` : 'list them with: fwbuild targets --json',
    );
  }
  // The id becomes ImageBuilder's PROFILE= and part of image file names; the packages go on
  // its command line: both are held to what OpenWrt's names are made of.
  if (!PROFILE_ID.test(id)) throw new BuildError(`profiles.json: profile id ${JSON.stringify(id).slice(0, 80)} is not a name like tplink_archer-c7-v2`);
  const pkgs: unknown = p.profiles[id]!.device_packages ?? [];
  if (!Array.isArray(pkgs)) throw new BuildError(`profiles.json: ${id}.device_packages is not a list`);
  const bad = pkgs.find((x) => typeof x !== 'string' || !PACKAGE_SPEC.test(x));
  if (bad !== undefined) throw new BuildError(`profiles.json: ${id}.device_packages holds ${JSON.stringify(bad).slice(0, 80)}, not a package name`);
  return { id, devicePackages: pkgs as string[] };
}

const PROFILE_ID = /^[A-Za-z0-9][A-Za-z0-9_.,+-]{0,127}$/;
/** a package name, or one with a leading `-` that removes a default package */
const PACKAGE_SPEC = /^-?[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;
