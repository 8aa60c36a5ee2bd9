import test from 'ava';
import { readFile } from 'node:fs/promises';
import { resolveRelease, type VersionsJson } from '../../../builder/openwrt/releases.js';
import { UsageError } from '../../../builder/errors.js';
import { projectPath } from '../../../builder/util/paths.js';

// a copy of downloads.openwrt.org/.versions.json (stable 25.12.5, oldstable 24.10.8)
const versions = async (): Promise<VersionsJson> =>
  JSON.parse(await readFile(projectPath('test', 'fixtures', 'openwrt', 'nix_versions.json'), 'utf8')) as VersionsJson;

test('stable, oldstable and snapshot name the channels of .versions.json', async (t) => {
  const v = await versions();
  t.deepEqual(resolveRelease(v, 'stable'), { kind: 'release', version: '25.12.5', path: 'releases/25.12.5' });
  t.is(resolveRelease(v, 'oldstable').version, '24.10.8');
  t.deepEqual(resolveRelease(v, 'snapshot'), { kind: 'snapshot', version: 'snapshot', path: 'snapshots' });
});

test('a series, a semver range or an exact version picks the newest match; release candidates only when asked', async (t) => {
  const v = await versions();
  t.is(resolveRelease(v, '24.10').version, '24.10.8');
  t.is(resolveRelease(v, '23.05').version, '23.05.6');
  t.is(resolveRelease(v, '^24.10.0').version, '24.10.8');
  t.is(resolveRelease(v, '~23.05.2').version, '23.05.6');
  t.is(resolveRelease(v, '>=22.03 <23').version, '22.03.7');
  t.is(resolveRelease(v, '23.05.6').version, '23.05.6');
  t.is(resolveRelease(v, '17.01.7').version, '17.01.7', 'leading zeros as OpenWrt writes them');
  t.is(resolveRelease(v, '25.12.0-rc3').version, '25.12.0-rc3', 'an exact release candidate');
  t.is(resolveRelease(v, '<24.10.0').version, '23.05.6', 'no release candidate unless the range names one');
  t.is(resolveRelease(v, '>=24.10.0-rc1 <24.10.0').version, '24.10.0-rc7');
});

test('a range that matches nothing, or a setting that is no range, is refused naming the newest releases', async (t) => {
  const v = await versions();
  const none = t.throws(() => resolveRelease(v, '^26.0.0'), { instanceOf: UsageError });
  t.is(none.message, 'no OpenWrt release matches "^26.0.0"');
  t.regex(none.hint ?? '', /the newest releases: 25\.12\.5, 25\.12\.4, .* \(or "snapshot"\)/);
  const bad = t.throws(() => resolveRelease(v, 'latest'), { instanceOf: UsageError });
  t.regex(bad.message, /release "latest" is neither stable, oldstable, snapshot/);
});
