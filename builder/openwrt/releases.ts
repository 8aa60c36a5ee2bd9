import semver from 'semver';
import { BuildError, UsageError } from '../errors.js';

/** downloads.openwrt.org/.versions.json */
export interface VersionsJson {
  stable_version: string;
  oldstable_version: string;
  upcoming_version?: string;
  versions_list: string[];
}

/** An OpenWrt release version as the server names its folders: 24.10.4, 25.12.0-rc2. */
export const RELEASE_VERSION = /^\d{1,4}\.\d{1,4}\.\d{1,4}(-rc\d{1,4})?$/;

/**
 * `.versions.json` is not signed, and its versions become folder names and paths: every value
 * is checked against what an OpenWrt version may be before anything uses it.
 */
export function parseVersionsJson(body: Buffer | string, from: string): VersionsJson {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString());
  } catch (e) {
    throw new BuildError(`${from} is not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new BuildError(`${from} is not a JSON object`);
  const o = doc as Record<string, unknown>;
  const version = (key: string, optional = false): string | undefined => {
    const v = o[key];
    if ((v === undefined || v === '') && optional) return undefined; // OpenWrt writes "" when none is upcoming
    if (typeof v !== 'string' || !RELEASE_VERSION.test(v)) {
      throw new BuildError(`${from}: ${key} is ${JSON.stringify(v)?.slice(0, 80) ?? 'missing'}, not an OpenWrt version like 24.10.4`);
    }
    return v;
  };
  const list = o.versions_list;
  if (!Array.isArray(list)) throw new BuildError(`${from}: versions_list is ${JSON.stringify(list)?.slice(0, 80) ?? 'missing'}, not a list of versions`);
  const bad = list.find((v) => typeof v !== 'string' || !RELEASE_VERSION.test(v));
  if (bad !== undefined) throw new BuildError(`${from}: versions_list holds ${JSON.stringify(bad).slice(0, 80)}, not an OpenWrt version like 24.10.4`);
  const upcoming = version('upcoming_version', true);
  return {
    stable_version: version('stable_version')!,
    oldstable_version: version('oldstable_version')!,
    ...(upcoming ? { upcoming_version: upcoming } : {}),
    versions_list: list as string[],
  };
}

export type ResolvedRelease =
  | { kind: 'release'; version: string; /** folder under the mirror root */ path: string }
  | { kind: 'snapshot'; version: 'snapshot'; path: 'snapshots' };

export const SNAPSHOT: ResolvedRelease = { kind: 'snapshot', version: 'snapshot', path: 'snapshots' };
const isSnapshot = (s: string): boolean => s === 'snapshot' || s === 'snapshots';

/** OpenWrt writes 23.05.5 and 24.10.0-rc1; semver has no leading zeros, so compare on 23.5.5. */
const toSemver = (v: string): string | null => {
  const m = /^(\d+)\.(\d+)\.(\d+)(-rc(\d+))?$/.exec(v);
  return m ? `${Number(m[1])}.${Number(m[2])}.${Number(m[3])}${m[4] ? `-rc.${Number(m[5])}` : ''}` : null;
};
const normaliseRange = (r: string): string => r.replace(/\d+/g, (n) => String(Number(n))).replace(/-rc(\d+)/g, '-rc.$1');

/**
 * Which release a `release` setting means: `stable`, `oldstable`, `snapshot`, a series
 * (`24.10`: its newest release), a semver range (`^24.10.0`) or an exact version (`23.05.6`).
 * Release candidates count only when the setting names one (`24.10.0-rc7`, `>=24.10.0-rc1`).
 */
/** Snapshots need no .versions.json: this avoids fetching it. */
export const needsVersions = (spec: string): boolean => !isSnapshot(spec.trim());

export function resolveRelease(versions: VersionsJson, spec: string): ResolvedRelease {
  const s = spec.trim();
  const release = (version: string): ResolvedRelease => ({ kind: 'release', version, path: `releases/${version}` });
  if (isSnapshot(s)) return SNAPSHOT;
  if (s === 'stable') return release(versions.stable_version);
  if (s === 'oldstable') return release(versions.oldstable_version);
  const known = versions.versions_list.filter((v) => toSemver(v) !== null);
  if (known.includes(s)) return release(s);
  const series = /^(\d+)\.(\d+)$/.exec(s);
  const range = series ? `~${Number(series[1])}.${Number(series[2])}.0` : normaliseRange(s);
  if (!semver.validRange(range)) {
    throw new UsageError(
      `release "${spec}" is neither stable, oldstable, snapshot, a version, a series like 24.10 nor a semver range`,
      `known releases: ${newest(known, 8).join(', ')}`,
    );
  }
  const wantsPre = /-rc/.test(s);
  const match = known
    .filter((v) => semver.satisfies(toSemver(v)!, range, { includePrerelease: wantsPre }))
    .sort((a, b) => semver.rcompare(toSemver(a)!, toSemver(b)!))[0];
  if (!match) {
    throw new UsageError(`no OpenWrt release matches "${spec}"`, `the newest releases: ${newest(known, 6).join(', ')} (or "snapshot")`);
  }
  return release(match);
}

function newest(list: string[], n: number): string[] {
  return list
    .filter((v) => !v.includes('-rc'))
    .sort((a, b) => semver.rcompare(toSemver(a)!, toSemver(b)!))
    .slice(0, n);
}
