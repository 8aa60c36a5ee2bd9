import test from 'ava';
import { readFile } from 'node:fs/promises';
import { UsageError } from '../../../builder/errors.js';
import { findProfile, type ProfilesJson } from '../../../builder/openwrt/profiles.js';
import { projectPath } from '../../../builder/util/paths.js';

const load = async (f: string): Promise<ProfilesJson> =>
  JSON.parse(await readFile(projectPath('test', 'fixtures', 'openwrt', f), 'utf8')) as ProfilesJson;

test('a profile is found by id, and through supported_devices', async (t) => {
  const p = await load('profiles_24.10.8_ath79_generic.json');
  t.deepEqual(findProfile(p, 'tplink_archer-c7-v2'), {
    id: 'tplink_archer-c7-v2',
    devicePackages: ['kmod-usb2', 'kmod-usb-ledtrig-usbport', 'kmod-ath10k-ct', 'ath10k-firmware-qca988x-ct'],
  });
  const snap = await load('asu_profiles_snapshot_ath79_generic.json');
  t.is(findProfile(snap, '8dev,carambola2').id, '8dev_carambola2');
  t.is(findProfile(snap, 'carambola2').id, '8dev_carambola2');
});

test('an unknown profile is refused with the nearest of the real ath79/generic profiles', async (t) => {
  const p = await load('profiles_24.10.8_ath79_generic.json');
  const e = t.throws(() => findProfile(p, 'tplink_archer-c7-v3'), { instanceOf: UsageError });
  t.is(e.message, 'unknown profile "tplink_archer-c7-v3" for ath79/generic 24.10.8 (369 profiles)');
  t.regex(e.hint ?? '', /^nearest: (tplink_archer-c\d-v\d, ){4}tplink_archer-c\d-v\d$/);
  t.regex(e.hint ?? '', /tplink_archer-c7-v2/);
});
