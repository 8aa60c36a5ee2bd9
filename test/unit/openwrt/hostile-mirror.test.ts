/**
 * A hostile or broken OpenWrt server (the localhost test double, test/helpers/openwrt-mirror.ts,
 * with per-test misbehaviour): names that climb out of the cache, values of the wrong type,
 * endless and trickling bodies, redirects to another host, a leftover `.part` that cannot be
 * resumed. Each gets one clear error, bounded memory, disk and time, and leaves nothing behind.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../../../builder/errors.js';
import { OpenWrtMirror } from '../../../builder/openwrt/mirror.js';
import { findProfile, type ProfilesJson } from '../../../builder/openwrt/profiles.js';
import type { UsignKey } from '../../../builder/openwrt/usign.js';
import { parseSums } from '../../../builder/util/sums.js';
import { runCli } from '../../helpers/cli.js';
import { DIR, mirror, SDK } from '../../helpers/openwrt-mirror.js';
import { tempDir } from '../../helpers/tmp.js';

async function client(t: ExecutionContext, url: string, m: { key: UsignKey }, extra: Partial<ConstructorParameters<typeof OpenWrtMirror>[0]> = {}) {
  const dir = await tempDir(t);
  return { dir, mirror: new OpenWrtMirror({ mirrors: [url], offline: false, downloadDir: dir, keyring: [m.key], timeoutMs: 1000, attempts: 1, ...extra }) };
}

test('.versions.json: a release that is a path, or a value of the wrong type, is one clear error and writes nothing', async (t) => {
  const m = await mirror(t);
  const cwd = await tempDir(t);
  await writeFile(path.join(cwd, 'fwbuild.config.json'), JSON.stringify({ openwrt: { mirrors: [m.url], keys: [m.keyLine], timeout: 2 } }));
  const cases: [unknown, RegExp][] = [
    [{ stable_version: '../../../../tmp/fwbuild-escape', oldstable_version: '24.10.8', versions_list: ['24.10.8'] }, /stable_version is "\.\.\/\.\.\/\.\.\/\.\.\/tmp\/fwbuild-escape", not an OpenWrt version like 24\.10\.4/],
    [{ stable_version: 25, oldstable_version: '24.10.8', versions_list: [] }, /stable_version is 25, not an OpenWrt version/],
    [{ stable_version: '25.12.5', oldstable_version: '24.10.8', versions_list: ['24.10.8', { x: 1 }] }, /versions_list holds \{"x":1\}, not an OpenWrt version/],
    [{ stable_version: '25.12.5', oldstable_version: '24.10.8', versions_list: 'all' }, /versions_list is "all", not a list of versions/],
    [[1, 2], /\.versions\.json is not a JSON object/],
  ];
  for (const [doc, re] of cases) {
    await writeFile(path.join(m.root, '.versions.json'), JSON.stringify(doc));
    const r = await runCli(['fetch', '--target', 'ath79', '--profile', 'tplink_archer-c7-v2', '--release', 'stable'], { cwd });
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, re);
    t.notRegex(r.stderr, /TypeError|    at /, 'no stack trace');
  }
  await writeFile(path.join(m.root, '.versions.json'), '{"stable_version": "25.1');
  const r = await runCli(['fetch', '--target', 'ath79', '--profile', 'tplink_archer-c7-v2'], { cwd });
  t.regex(r.stderr, /\.versions\.json is not JSON/);
  await t.throwsAsync(stat('/tmp/fwbuild-escape'), undefined, 'nothing written where the "release" pointed');
  const meta = await readdir(path.join(cwd, '.fwbuild-cache', 'openwrt', 'meta')).catch(() => []);
  t.deepEqual(meta, [], 'no signed list stored for a refused release, and no lock entry');
  await t.throwsAsync(stat(path.join(cwd, 'fwbuild.lock')));
});

test('names from the server are held to what they may be: sums file names, profile ids, device packages', (t) => {
  const hex = 'a'.repeat(64);
  for (const bad of ['../../etc/passwd', '/etc/passwd', 'sdk/../../x', 'a//b', './x', 'x\\y', 'x\u0000y']) {
    const e = t.throws(() => parseSums(`${hex} *${bad}\n`, 'releases/x/sha256sums'), { instanceOf: BuildError });
    t.regex(e.message, /releases\/x\/sha256sums names the file .* which is not a plain relative path/);
  }
  t.deepEqual([...parseSums(`${hex} *openwrt-sdk-24.10.8-ath79-generic_gcc-13.3.0_musl.Linux-x86_64.tar.zst\n${hex} *kmods/6.6.1/index.json\n`).keys()].length, 2);
  const profiles = (id: string, pkgs: unknown): ProfilesJson =>
    ({ arch_packages: 'mips_24kc', target: 'ath79/generic', version_number: '24.10.8', profiles: { [id]: { device_packages: pkgs } } }) as ProfilesJson;
  t.throws(() => findProfile(profiles('../x', []), '../x'), { message: /profile id "\.\.\/x" is not a name like tplink_archer-c7-v2/ });
  t.throws(() => findProfile(profiles('dev', ['kmod-a', '$(reboot)']), 'dev'), { message: /device_packages holds "\$\(reboot\)", not a package name/ });
  t.throws(() => findProfile(profiles('dev', 'kmod-a'), 'dev'), { message: /device_packages is not a list/ });
  t.deepEqual(findProfile(profiles('dev', ['kmod-a', '-wpad-basic-mbedtls']), 'dev').devicePackages, ['kmod-a', '-wpad-basic-mbedtls']);
  t.throws(() => findProfile({ profiles: null } as unknown as ProfilesJson, 'x'), { message: /no "profiles" object/ });
});

test('an endless small file is cut at its cap: memory stays bounded', async (t) => {
  const m = await mirror(t);
  let sent = 0;
  m.override = (rel, _req, res) => {
    if (rel !== '.versions.json') return false;
    res.writeHead(200);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const more = (): void => {
      let room = true;
      while (!res.destroyed && room) {
        room = res.write(chunk);
        sent += chunk.length;
      }
      if (!res.destroyed) res.once('drain', more);
    };
    more();
    return true;
  };
  const { mirror: c } = await client(t, m.url, m);
  const e = await t.throwsAsync(c.versions(), { instanceOf: BuildError });
  t.regex(e.message, /\.versions\.json: the server sent more than 4194304 bytes/);
  t.log(`server wrote ${sent} bytes before the client hung up`);
});

test('an endless SDK stops at the cap and leaves no partial file; a trickling one is given up', async (t) => {
  const m = await mirror(t);
  let mode: 'endless' | 'trickle' = 'endless';
  m.override = (rel, _req, res) => {
    if (!rel.endsWith(SDK)) return false;
    res.writeHead(200);
    if (mode === 'endless') {
      const chunk = randomBytes(64 * 1024);
      const more = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', more);
      };
      more();
    } else {
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write('x')), 200);
    }
    return true;
  };
  const { dir, mirror: c } = await client(t, m.url, m, { maxFileBytes: 2 * 1024 * 1024 });
  const sums = await c.signedSums(DIR);
  const e = await t.throwsAsync(c.file(DIR, SDK, sums), { instanceOf: BuildError });
  t.regex(e.message, /the server sent more than the 2097152 bytes fwbuild accepts for it; the partial file was deleted/);
  t.deepEqual(await readdir(path.join(dir, 'sha256')), [], 'no .part, no file');

  mode = 'trickle';
  const started = Date.now();
  const e2 = await t.throwsAsync(c.file(DIR, SDK, sums), { instanceOf: BuildError });
  t.regex(e2.message, /slower than 1024 B\/s: given up/);
  t.log(`a 5 B/s server given up after ${Date.now() - started} ms (timeout 1 s)`);
});

test('a deadline ends a request that keeps the connection busy forever', async (t) => {
  const m = await mirror(t);
  m.override = (rel, _req, res) => {
    if (!rel.endsWith(SDK)) return false;
    res.writeHead(200);
    // fast enough for the rate floor, never ending
    const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(Buffer.alloc(4096))), 100);
    return true;
  };
  const { mirror: c } = await client(t, m.url, m, { deadlineMs: 3000 });
  const e = await t.throwsAsync(c.file(DIR, SDK, await c.signedSums(DIR)), { instanceOf: BuildError });
  t.regex(e.message, /Timeout awaiting 'request' for 3000ms/);
});

test('a redirect to another host is refused and named; one on the same host is followed', async (t) => {
  const m = await mirror(t);
  const other = m.url.replace('127.0.0.1', 'localhost');
  m.override = (rel, _req, res) => {
    if (rel === 'elsewhere/.versions.json') {
      res.writeHead(302, { location: `${other}/.versions.json` });
      res.end();
      return true;
    }
    if (rel === 'moved/.versions.json') {
      res.writeHead(301, { location: '/.versions.json' });
      res.end();
      return true;
    }
    return false;
  };
  const away = await client(t, `${m.url}/elsewhere`, m);
  const e = await t.throwsAsync(away.mirror.versions(), { instanceOf: BuildError });
  t.regex(e.message, new RegExp(`redirects to another host \\(localhost:\\d+\\): refused; add http://localhost:\\d+ with --mirror if you trust it`));
  const same = await client(t, `${m.url}/moved`, m);
  t.is((await same.mirror.versions()).stable_version, '25.12.5');
});

test('a leftover .part as long as the file or longer is discarded and the download starts over', async (t) => {
  const m = await mirror(t);
  const { dir, mirror: c } = await client(t, m.url, m);
  const sums = await c.signedSums(DIR);
  const dest = path.join(dir, 'sha256', sums.get(SDK)!);
  await mkdir(path.dirname(dest), { recursive: true });
  await writeFile(`${dest}.part`, Buffer.alloc(m.sdk.length + 100, 1));
  const file = await c.file(DIR, SDK, sums);
  t.true((await readFile(file)).equals(m.sdk));
  const gets = m.requests.filter((r) => r.path.endsWith(SDK));
  t.deepEqual(gets.map((g) => g.range), [`bytes=${m.sdk.length + 100}-`, undefined], 'one refused resume (416), then from the start');
  await t.throwsAsync(stat(`${dest}.part`));
});
