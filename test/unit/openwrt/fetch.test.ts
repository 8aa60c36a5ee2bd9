/**
 * `fwbuild fetch` as a user runs it, against the localhost test double of the OpenWrt download
 * server (test/helpers/openwrt-mirror.ts): the SDK and ImageBuilder here are test tarballs.
 */
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../../helpers/cli.js';
import { IMAGEBUILDER, mirror, SDK } from '../../helpers/openwrt-mirror.js';
import { tempDir } from '../../helpers/tmp.js';

async function project(t: Parameters<typeof tempDir>[0], url: string, key: string) {
  const dir = await tempDir(t);
  // the test key signs this server's sha256sums; OpenWrt's own keys stay trusted beside it
  await writeFile(path.join(dir, 'fwbuild.config.json'), JSON.stringify({ openwrt: { mirrors: [url], keys: [key], timeout: 2 } }));
  return dir;
}

test('fetch resolves the release, checks the signed list and the profile, and downloads the SDK and ImageBuilder; --offline then needs no server', async (t) => {
  const m = await mirror(t);
  const dir = await project(t, m.url, m.keyLine);
  const r = await runCli(['fetch', '--target', 'ath79', '--profile', 'tplink_archer-c7-v2', '--release', '24.10', '--json'], { cwd: dir });
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    target: string;
    release: { version: string };
    dir: string;
    profile: { id: string; devicePackages: string[] };
    signedBy: string;
    sdk: { name: string; file: string; sha256: string };
    imageBuilder: { name: string; file: string };
  };
  t.is(j.target, 'ath79/generic');
  t.is(j.release.version, '24.10.8');
  t.is(j.dir, 'releases/24.10.8/targets/ath79/generic');
  t.is(j.profile.id, 'tplink_archer-c7-v2');
  t.true(j.profile.devicePackages.includes('kmod-ath10k-ct'));
  t.is(j.signedBy, '0123456789abcdef');
  t.is(j.sdk.name, SDK);
  t.is(j.imageBuilder.name, IMAGEBUILDER);
  t.true((await readFile(j.sdk.file)).equals(m.sdk));
  t.is(j.sdk.file, path.join(dir, '.fwbuild-cache', 'openwrt', 'sha256', j.sdk.sha256), 'content-addressed, under the cache folder');

  await new Promise<void>((res) => (m.server.closeAllConnections(), m.server.close(() => res())));
  const off = await runCli(['fetch', '--target', 'ath79', '--profile', 'tplink_archer-c7-v2', '--release', '24.10', '--offline'], { cwd: dir });
  t.is(off.code, 0, off.stderr);
  t.regex(off.stdout, /ath79\/generic 24\.10\.8, profile tplink_archer-c7-v2: sha256sums signed by usign key 0123456789abcdef/);

  // the resolved release and every file's sha256 are in the lock; --frozen holds the fetch to them
  const lockFile = path.join(dir, 'fwbuild.lock');
  const lock = JSON.parse(await readFile(lockFile, 'utf8')) as { openwrt: Record<string, { release: string; signedBy: string; files: Record<string, string> }> };
  t.like(lock.openwrt['ath79/generic'], { release: '24.10.8', signedBy: '0123456789abcdef' });
  t.deepEqual(Object.keys(lock.openwrt['ath79/generic']!.files).sort(), [IMAGEBUILDER, SDK, 'profiles.json'].sort());
  t.is(lock.openwrt['ath79/generic']!.files[SDK], j.sdk.sha256);
  const frozen = ['fetch', '--target', 'ath79', '--profile', 'tplink_archer-c7-v2', '--release', '24.10', '--offline', '--frozen'];
  t.is((await runCli(frozen, { cwd: dir })).code, 0);
  lock.openwrt['ath79/generic']!.files[SDK] = '0'.repeat(64);
  await writeFile(lockFile, JSON.stringify(lock));
  const stale = await runCli(frozen, { cwd: dir });
  t.is(stale.code, 1);
  t.regex(stale.stderr, new RegExp(`--frozen: ath79/generic differs from .*fwbuild\\.lock:\\n  openwrt\\.ath79/generic\\.files\\.${SDK.replace(/\./g, '\\.')}: 0{64} -> ${j.sdk.sha256}`));
});

test('fetch refuses, before any download: an unknown profile (nearest listed), a release that matches nothing, no mirror, a virtual router', async (t) => {
  const m = await mirror(t);
  const dir = await project(t, m.url, m.keyLine);
  const prof = await runCli(['fetch', '--target', 'ath79', '--profile', 'tplink_archer-c7-v9', '--release', '24.10', '--json'], { cwd: dir });
  t.is(prof.code, 2);
  const pe = JSON.parse(prof.stdout).error as { message: string; hint: string };
  t.is(pe.message, 'unknown profile "tplink_archer-c7-v9" for ath79/generic 24.10.8 (369 profiles)');
  t.regex(pe.hint, /nearest: .*tplink_archer-c7-v2/);
  t.false(m.requests.some((q) => q.path.endsWith(SDK)), 'the SDK is not downloaded for a bad profile');

  // no device at all: the release's signed profiles.json says which there are, before the SDK
  const noDevice = await runCli(['fetch', '--target', 'ath79', '--release', '24.10', '--json'], { cwd: dir });
  t.is(noDevice.code, 2);
  const nd = JSON.parse(noDevice.stdout).error as { message: string; hint: string };
  t.regex(nd.message, /^an OpenWrt target needs --profile \(the device\): ath79\/generic 24\.10\.8 has 369 profiles: \S+, .*, …$/);
  t.regex(nd.hint, /fwbuild fetch --target ath79\/generic --profile NAME/);
  t.false(m.requests.some((q) => q.path.endsWith(SDK)), 'nothing large downloaded without a device');

  const rel = await runCli(['fetch', '--target', 'ath79', '--profile', 'tplink_archer-c7-v2', '--release', '^26.0.0'], { cwd: dir });
  t.is(rel.code, 2);
  t.regex(rel.stderr, /no OpenWrt release matches "\^26\.0\.0"\n  hint: the newest releases: 25\.12\.5/);

  const empty = await tempDir(t);
  await writeFile(path.join(empty, 'fwbuild.config.json'), JSON.stringify({ openwrt: { mirrors: [] } }));
  const none = await runCli(['fetch', '--target', 'ath79', '--profile', 'x'], { cwd: empty });
  t.is(none.code, 2);
  t.regex(none.stderr, /no OpenWrt mirror configured/);

  const debian = await runCli(['fetch', '--target', 'qemu-mips', '--profile', 'malta'], { cwd: dir });
  t.is(debian.code, 2);
  t.regex(debian.stderr, /qemu-mips is a virtual router built from Debian packages; fwbuild fetch is for OpenWrt targets/);
});
