/**
 * sha256sums.asc checked with Debian's gpgv, the second option beside usign. The gpg keys here
 * are made by the test (OpenWrt's private keys sign nothing here); the download server is the
 * localhost test double (test/helpers/openwrt-mirror.ts).
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BuildError } from '../../../builder/errors.js';
import { verifyGpg } from '../../../builder/openwrt/gpg.js';
import { runCli } from '../../helpers/cli.js';
import { DIR, mirror } from '../../helpers/openwrt-mirror.js';
import { tempDir } from '../../helpers/tmp.js';

const run = promisify(execFile);

/** A throwaway gpg home with one signing key; its keyring file and fingerprint. */
async function gpgKey(t: ExecutionContext, name: string) {
  const home = await tempDir(t);
  const env = { ...process.env, GNUPGHOME: home };
  await run('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', `${name} <test@openwrt-mirror.invalid>`, 'ed25519', 'sign', 'never'], { env });
  const colons = (await run('gpg', ['--batch', '--with-colons', '--list-keys'], { env })).stdout;
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)![1]!;
  const keyring = path.join(home, 'exported.gpg');
  await run('sh', ['-c', 'gpg --batch --export > "$0"', keyring], { env });
  const sign = async (file: string) => {
    await run('gpg', ['--batch', '--yes', '--armor', '--detach-sign', '--output', `${file}.asc`, file], { env });
    return readFile(`${file}.asc`, 'utf8');
  };
  return { fingerprint, keyring, sign };
}

test('gpgv: a trusted fingerprint verifies; an altered list, an untrusted key and a key not in the keyring are refused by name', async (t) => {
  const dir = await tempDir(t);
  const k = await gpgKey(t, 'fwbuild test A');
  const other = await gpgKey(t, 'fwbuild test B');
  const file = path.join(dir, 'sha256sums');
  const data = Buffer.from('0000 *openwrt-sdk.tar.zst\n');
  await writeFile(file, data);
  const asc = await k.sign(file);
  const spaced = k.fingerprint.replace(/(.{4})/g, '$1 ').trim();
  t.is(await verifyGpg(data, asc, { keyring: k.keyring, fingerprints: [spaced] }, 'x/sha256sums'), k.fingerprint);
  const bad = await t.throwsAsync(verifyGpg(Buffer.from('1111 *openwrt-sdk.tar.zst\n'), asc, { keyring: k.keyring, fingerprints: [k.fingerprint] }, 'x/sha256sums'), { instanceOf: BuildError });
  t.is(bad.message, 'x/sha256sums.asc does not match x/sha256sums: the list or its signature was altered');
  const untrusted = await t.throwsAsync(verifyGpg(data, asc, { keyring: k.keyring, fingerprints: [other.fingerprint] }, 'x/sha256sums'), { instanceOf: BuildError });
  t.regex(untrusted.message, new RegExp(`signed by gpg key ${k.fingerprint}.*not one of the trusted fingerprints`));
  const unknown = await t.throwsAsync(verifyGpg(data, asc, { keyring: other.keyring, fingerprints: [k.fingerprint] }, 'x/sha256sums'), { instanceOf: BuildError });
  t.regex(unknown.message, new RegExp(`x/sha256sums\\.asc is signed by gpg key ${k.fingerprint.slice(-16)}, which is not in `));
});

test('fetch with openwrt.signature "gpg" checks sha256sums.asc and records the fingerprint; without a keyring it says what to set', async (t) => {
  const m = await mirror(t);
  const k = await gpgKey(t, 'fwbuild test mirror');
  await writeFile(path.join(m.root, DIR, 'sha256sums.asc'), await k.sign(path.join(m.root, DIR, 'sha256sums')));
  const dir = await tempDir(t);
  const config = { mirrors: [m.url], signature: 'gpg', gpgKeyring: k.keyring, gpgFingerprints: [k.fingerprint], timeout: 2 };
  await writeFile(path.join(dir, 'fwbuild.config.json'), JSON.stringify({ openwrt: config }));
  const r = await runCli(['fetch', '--target', 'ath79', '--profile', 'tplink_archer-c7-v2', '--release', '24.10', '--json'], { cwd: dir });
  t.is(r.code, 0, r.stderr);
  t.is((JSON.parse(r.stdout) as { signedBy: string }).signedBy, k.fingerprint);
  t.true(m.requests.some((q) => q.path === `${DIR}/sha256sums.asc`));
  t.false(m.requests.some((q) => q.path === `${DIR}/sha256sums.sig`), 'usign is not consulted');

  const { gpgKeyring: _drop, ...noKeyring } = config;
  await writeFile(path.join(dir, 'fwbuild.config.json'), JSON.stringify({ openwrt: noKeyring }));
  const e = await runCli(['fetch', '--target', 'ath79', '--profile', 'tplink_archer-c7-v2', '--release', '24.10', '--json'], { cwd: dir });
  t.is(e.code, 2);
  t.regex((JSON.parse(e.stdout) as { error: { message: string } }).error.message, /openwrt\.signature is "gpg" but openwrt\.gpgKeyring is not set/);
});
