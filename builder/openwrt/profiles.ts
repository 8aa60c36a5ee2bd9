import { UsageError } from '../errors.js';
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
  return { id, devicePackages: p.profiles[id]!.device_packages ?? [] };
}
