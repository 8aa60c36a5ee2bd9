/**
 * The OpenWrt download path against a real HTTP server on localhost. The server is a test
 * double of downloads.openwrt.org (unreachable here): it serves the real .versions.json and
 * profiles.json samples and, as SDK and ImageBuilder, test tarballs made here, under
 * OpenWrt's layout, with sha256sums signed by a usign key made here.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BuildError, UsageError } from '../../../builder/errors.js';
import { OpenWrtMirror } from '../../../builder/openwrt/mirror.js';
import { resolveRelease } from '../../../builder/openwrt/releases.js';
import type { UsignKey } from '../../../builder/openwrt/usign.js';
import { DIR, IMAGEBUILDER, mirror, SDK, usignPair } from '../../helpers/openwrt-mirror.js';

const client = async (t: ExecutionContext, urls: string[], keyring: UsignKey[], offline = false, downloadDir?: string) => {
  const dir = downloadDir ?? (await mkdtemp(path.join(tmpdir(), 'fwbuild-dl-')));
  if (!downloadDir) t.teardown(() => rm(dir, { recursive: true, force: true }));
  return { dir, mirror: new OpenWrtMirror({ mirrors: urls, offline, downloadDir: dir, keyring, timeoutMs: 1000, attempts: 2 }) };
};

test('happy path: release resolved, sha256sums signature checked, SDK fetched into the content-addressed folder, reused', async (t) => {
  const m = await mirror(t);
  const { dir, mirror: c } = await client(t, [m.url], [m.key]);
  t.deepEqual(resolveRelease(await c.versions(), 'oldstable'), { kind: 'release', version: '24.10.8', path: 'releases/24.10.8' });
  const sums = await c.signedSums(DIR);
  t.deepEqual([...sums.keys()].sort(), [IMAGEBUILDER, SDK, 'profiles.json'].sort());
  const file = await c.file(DIR, SDK, sums);
  t.is(file, path.join(dir, 'sha256', sums.get(SDK)!));
  t.true((await readFile(file)).equals(m.sdk));
  const n = m.requests.length;
  t.is(await c.file(DIR, SDK, sums), file);
  t.is(m.requests.length, n, 'the second use makes no request');
});

test('a tampered tarball is refused and deleted; a signature by an unknown key or over altered sums is refused', async (t) => {
  const m = await mirror(t);
  m.tamper = SDK;
  const { dir, mirror: c } = await client(t, [m.url], [m.key]);
  const sums = await c.signedSums(DIR);
  const e = await t.throwsAsync(c.file(DIR, SDK, sums), { instanceOf: BuildError });
  t.regex(e.message, new RegExp(`${SDK} from http://127\\.0\\.0\\.1:\\d+: sha256 [0-9a-f]{64} does not match the signed list`));
  t.deepEqual(await readdir(path.join(dir, 'sha256')), [], 'nothing kept, no partial file');

  const stranger = await mirror(t, usignPair('fedcba9876543210'));
  const s = await client(t, [stranger.url], [m.key]);
  const e2 = await t.throwsAsync(s.mirror.signedSums(DIR), { instanceOf: BuildError });
  t.regex(e2.message, /signed with usign key fedcba9876543210, which is not a trusted key/);

  await writeFile(path.join(m.root, DIR, 'sha256sums'), (await readFile(path.join(m.root, DIR, 'sha256sums'), 'utf8')).replace(/^./, 'f'));
  const e3 = await t.throwsAsync((await client(t, [m.url], [m.key])).mirror.signedSums(DIR), { instanceOf: BuildError });
  t.regex(e3.message, /the usign signature by key 0123456789abcdef does not match its contents/);
});

test('a download cut in the middle resumes from where it stopped (HTTP Range) and verifies', async (t) => {
  const m = await mirror(t);
  m.truncateOnce = SDK;
  const { mirror: c } = await client(t, [m.url], [m.key]);
  const sums = await c.signedSums(DIR);
  const file = await c.file(DIR, SDK, sums);
  t.true((await readFile(file)).equals(m.sdk));
  const gets = m.requests.filter((r) => r.path.endsWith(SDK));
  t.is(gets.length, 2);
  t.is(gets[0]!.range, undefined);
  // the second request asks only for the rest: from what arrived of the first half
  const from = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
  t.true(from > 0 && from <= m.sdk.length >> 1, `resumed from byte ${from}`);
});

test('offline: what was fetched before is used without a server; a missing file is named with where to put it', async (t) => {
  const m = await mirror(t);
  const online = await client(t, [m.url], [m.key]);
  await online.mirror.versions();
  await online.mirror.file(DIR, 'profiles.json', await online.mirror.signedSums(DIR));
  await new Promise<void>((r) => (m.server.closeAllConnections(), m.server.close(() => r())));
  const { mirror: off } = await client(t, [], [m.key], true, online.dir);
  t.is(resolveRelease(await off.versions(), 'stable').version, '25.12.5');
  const sums = await off.signedSums(DIR);
  t.truthy(await stat(await off.file(DIR, 'profiles.json', sums)));
  const e = await t.throwsAsync(off.file(DIR, SDK, sums), { instanceOf: UsageError });
  t.is(e.message, `--offline: ${DIR}/${SDK} is not in the download folder`);
  t.is(e.hint, `put the file (sha256 ${sums.get(SDK)}) at ${path.join(online.dir, 'sha256', sums.get(SDK)!)}, or run once without --offline`);
  const empty = await client(t, [], [m.key], true);
  await t.throwsAsync(empty.mirror.signedSums(DIR), { instanceOf: UsageError, message: `--offline: ${DIR}/sha256sums is not in the download folder` });
});

test('a server that never answers fails with the timeout; the next mirror in the list is used', async (t) => {
  const dead = await mirror(t);
  dead.hang = true;
  const good = await mirror(t);
  const only = await client(t, [dead.url], [good.key]);
  const e = await t.throwsAsync(only.mirror.signedSums(DIR), { instanceOf: BuildError });
  t.regex(e.message, /cannot download releases\/24\.10\.8\/targets\/ath79\/generic\/sha256sums:\n  http:\/\/127\.0\.0\.1:\d+: Timeout awaiting '(socket|response)' for 1000ms/);
  t.is(dead.requests.length, 2, 'two attempts, then it gives up');
  const both = await client(t, [dead.url, good.url], [good.key]);
  t.is((await both.mirror.signedSums(DIR)).size, 3);
});
