import { readFile } from 'node:fs/promises';
import type { Catalog } from '../catalog/load.js';
import type { OpenWrtSpec, Target } from '../catalog/target.js';
import type { ResolvedConfig } from '../config/config.js';
import { BuildError, UsageError } from '../errors.js';
import { diffLock, readLock, writeLock, type LockData, type OpenWrtLock } from '../lock/lockfile.js';
import { projectPath } from '../util/paths.js';
import { OpenWrtMirror } from './mirror.js';
import { findProfile, type ProfilesJson } from './profiles.js';
import { needsVersions, resolveRelease, SNAPSHOT, type ResolvedRelease } from './releases.js';
import type { GpgTrust } from './gpg.js';
import { parseUsignKey, type UsignKey } from './usign.js';

export interface FetchedFile {
  name: string;
  sha256: string;
  /** in the content-addressed download folder */
  file: string;
}

export interface FetchReport {
  ok: true;
  target: string;
  release: ResolvedRelease;
  /** the target's folder on the server */
  dir: string;
  profile: { id: string; devicePackages: string[] };
  /** the usign key id (or gpg fingerprint) that signed sha256sums */
  signedBy: string;
  sdk: FetchedFile;
  imageBuilder: FetchedFile;
  profiles: FetchedFile;
  offline: boolean;
  /** fwbuild.lock: this target's release and files are recorded there (absent: the caller records `entry`) */
  lock?: { file: string; changes: string[]; written: boolean };
  entry: OpenWrtLock;
}

/** OpenWrt's release keys kept in the repository, plus any the config adds. */
export async function openwrtKeyring(extra: readonly string[]): Promise<UsignKey[]> {
  const doc = JSON.parse(await readFile(projectPath('targets', 'openwrt-keys', 'usign.json'), 'utf8')) as { usign: { key: string }[] };
  return [...doc.usign.map((k) => k.key), ...extra].map((k) => parseUsignKey(k));
}

/** gpg: the keyring the config names, and OpenWrt's fingerprints plus the config's. */
async function openwrtGpgTrust(c: ResolvedConfig['openwrt']): Promise<GpgTrust> {
  if (!c.gpgKeyring) {
    throw new UsageError('openwrt.signature is "gpg" but openwrt.gpgKeyring is not set', 'export OpenWrt\'s public keys to a file (gpg --export FINGERPRINT > openwrt.gpg) and name it in openwrt.gpgKeyring');
  }
  const doc = JSON.parse(await readFile(projectPath('targets', 'openwrt-keys', 'gpg.json'), 'utf8')) as { gpg: { fingerprint: string }[] };
  return { keyring: c.gpgKeyring, fingerprints: [...doc.gpg.map((k) => k.fingerprint), ...c.gpgFingerprints] };
}

/**
 * Resolves the release of an OpenWrt target, checks the signed checksum list of its folder,
 * checks the profile against profiles.json, and downloads the SDK and the ImageBuilder into the
 * download folder, each verified against the signed list. With `offline`, only that folder.
 */
export async function fetchOpenWrt(
  config: ResolvedConfig,
  catalog: Catalog,
  o: { target: string; profile?: string; signal?: AbortSignal; say?: (s: string) => void; frozen?: boolean; record?: boolean },
): Promise<FetchReport> {
  const target = catalog.resolve(o.target);
  const ow = openwrtOf(target);
  const c = config.openwrt;
  if (!c.offline && c.mirrors.length === 0) {
    throw new UsageError(
      'no OpenWrt mirror configured',
      'set "openwrt.mirrors" in the config to the OpenWrt download server (or a mirror of it), or pass --mirror URL; --offline uses the download folder only',
    );
  }
  const mirror = new OpenWrtMirror({
    mirrors: c.mirrors,
    offline: c.offline,
    downloadDir: c.downloadDir,
    keyring: await openwrtKeyring(c.keys),
    ...(c.signature === 'gpg' ? { gpg: await openwrtGpgTrust(c) } : {}),
    timeoutMs: c.timeout * 1000,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.say ? { say: o.say } : {}),
  });
  if (ow.snapshotsOnly && needsVersions(c.release)) {
    throw new UsageError(`${target.name} exists only in snapshots; set openwrt.release to "snapshot" (it is "${c.release}")`);
  }
  const resolved = needsVersions(c.release) ? resolveRelease(await mirror.versions(), c.release) : SNAPSHOT;
  const dir = `${resolved.path}/targets/${ow.target}/${ow.subtarget}`;
  o.say?.(`OpenWrt ${resolved.version}: ${dir}`);
  const sums = await mirror.signedSums(dir);
  const pick = (prefix: string): string => {
    const name = [...sums.keys()].find((f) => f.startsWith(prefix) && /\.Linux-x86_64\.tar\.(xz|zst)$/.test(f));
    if (!name) throw new UsageError(`${dir}/sha256sums lists no ${prefix}…Linux-x86_64.tar.{xz,zst}: this release has none for ${target.name}`);
    return name;
  };
  const fetched = async (name: string): Promise<FetchedFile> => ({ name, sha256: sums.get(name)!, file: await mirror.file(dir, name, sums) });
  const profiles = await fetched('profiles.json');
  const profilesDoc = JSON.parse(await readFile(profiles.file, 'utf8')) as ProfilesJson;
  // without a device, the release's own (signed) profile list says which there are: before any large download
  if (!o.profile) throw noProfile(target.name, resolved.version, profilesDoc);
  const profile = findProfile(profilesDoc, o.profile);
  const signedBy = mirror.lastSigner ?? '';
  const sdk = await fetched(pick('openwrt-sdk-'));
  const imageBuilder = await fetched(pick('openwrt-imagebuilder-'));
  const entry: OpenWrtLock = {
    release: resolved.version,
    dir,
    signedBy,
    files: Object.fromEntries([profiles, sdk, imageBuilder].map((f) => [f.name, f.sha256])),
  };
  return {
    ok: true,
    target: target.name,
    release: resolved,
    dir,
    profile,
    signedBy,
    sdk,
    imageBuilder,
    profiles,
    offline: c.offline,
    entry,
    ...(o.record === false ? {} : { lock: await lockOpenWrt(config.lockFile, target.name, entry, !!o.frozen) }),
  };
}

/** Records a target's release and files in fwbuild.lock; under --frozen, requires them unchanged. */
async function lockOpenWrt(file: string, target: string, entry: OpenWrtLock, frozen: boolean): Promise<NonNullable<FetchReport['lock']>> {
  const old = await readLock(file);
  const { next, changes } = withOpenWrtEntry(old, target, entry);
  if (frozen && changes.length > 0) {
    throw new BuildError(
      `--frozen: ${target} differs from ${file}:\n  ${changes.slice(0, 20).join('\n  ')}`,
      'fetch without --frozen to update the lock, review the change, and commit it',
    );
  }
  if (changes.length > 0) await writeLock(file, next);
  return { file, changes, written: changes.length > 0 };
}

/** The lock with one target's OpenWrt entry replaced, and what that changes. */
export function withOpenWrtEntry(old: LockData | undefined, target: string, entry: OpenWrtLock): { next: LockData; changes: string[] } {
  const next: LockData = { ...(old ?? { lockfileVersion: 1 }), openwrt: { ...old?.openwrt, [target]: entry } };
  return { next, changes: old ? diffLock(old, next) : ['(new lock file)'] };
}


function noProfile(target: string, version: string, doc: ProfilesJson): UsageError {
  const ids = Object.keys(doc.profiles ?? {}).sort();
  const shown = ids.slice(0, 12);
  return new UsageError(
    `an OpenWrt target needs --profile (the device): ${target} ${version} has ${ids.length} profiles: ${shown.join(', ')}${ids.length > shown.length ? ', …' : ''}`,
    `fwbuild fetch --target ${target} --profile NAME (a profile id, or a device from its supported_devices); profiles.json in the download folder lists them all`,
  );
}

function openwrtOf(t: Target): OpenWrtSpec {
  if (!('openwrt' in t)) {
    throw new UsageError(`${t.name} is a virtual router built from Debian packages; fwbuild fetch is for OpenWrt targets (fwbuild targets lists them)`);
  }
  return t.openwrt;
}
