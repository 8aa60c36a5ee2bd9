import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../../builder/config/load.js';
import { UsageError } from '../../builder/errors.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

test('defaults apply with no config file, paths resolved against the working folder', async (t) => {
  const dir = await tempDir(t);
  const c = await loadConfig({ cwd: dir, env: {} });
  t.is(c.outDir, path.join(dir, 'dist'));
  t.is(c.cacheDir, path.join(dir, '.fwbuild-cache'));
  t.is(c.logDir, path.join(dir, 'build/logs'));
  t.is(c.debian.suite, 'bookworm');
  t.deepEqual(c.openwrt.mirrors, ['https://downloads.openwrt.org'], "OpenWrt's own download server");
  t.is(c.configFile, undefined);
});

test('every config place is read: fwbuild.config.{mjs,json,yaml}, .fwbuildrc.json, package.json#fwbuild', async (t) => {
  const a = await tempDir(t);
  await writeFile(path.join(a, 'fwbuild.config.mjs'), 'export default { target: "qemu-mips", outDir: "out" };\n');
  const ca = await loadConfig({ cwd: a, env: {} });
  t.is(ca.target, 'qemu-mips');
  t.is(ca.outDir, path.join(a, 'out'));

  const b = await tempDir(t);
  await writeFile(path.join(b, '.fwbuildrc.json'), JSON.stringify({ target: 'qemu-armv7', sourceDateEpoch: 1700000000 }));
  const cb = await loadConfig({ cwd: b, env: {} });
  t.is(cb.target, 'qemu-armv7');
  t.is(cb.sourceDateEpoch, 1700000000);

  const c = await tempDir(t);
  await writeFile(path.join(c, 'package.json'), JSON.stringify({ name: 'lab', fwbuild: { profile: 'malta' } }));
  t.is((await loadConfig({ cwd: c, env: {} })).profile, 'malta');

  // the README's fwbuild.config.json and .yaml are found by the search too
  const d = await tempDir(t);
  await writeFile(path.join(d, 'fwbuild.config.json'), JSON.stringify({ target: 'qemu-arm64' }));
  t.is((await loadConfig({ cwd: d, env: {} })).target, 'qemu-arm64');
  const e = await tempDir(t);
  await writeFile(path.join(e, 'fwbuild.config.yaml'), 'target: qemu-mipsel\n');
  t.is((await loadConfig({ cwd: e, env: {} })).target, 'qemu-mipsel');
});

test('precedence: command line over environment over file', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '.fwbuildrc.json'), JSON.stringify({ cacheDir: 'from-file', outDir: 'from-file' }));
  const c = await loadConfig({ cwd: dir, env: { FWBUILD_CACHE_DIR: '/tmp/env-cache', FWBUILD_OUT_DIR: '/tmp/env-out' }, overrides: { outDir: 'cli-out' } });
  t.is(c.cacheDir, '/tmp/env-cache');
  t.is(c.outDir, path.join(dir, 'cli-out'));
});

test('config errors name the file, the key, the value and what is accepted', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ outdir: 'x' }, /\.fwbuildrc\.json: key "outdir" unknown key \(did you mean "outDir"\?\); accepted keys: target, profile, outDir/],
    [{ sourceDateEpoch: '1700000000' }, /key "sourceDateEpoch" has string "1700000000", expected an integer/],
    [{ sourceDateEpoch: 12 }, /key "sourceDateEpoch" has number 12, expected an integer from 315532800 to 4102444800/],
    [{ debian: { suite: 'bookwrm' } }, /key "debian\.suite" has "bookwrm" \(did you mean "bookworm"\?\); accepted: bookworm/],
    [{ debian: { mirror: 'ftp.example' } }, /key "debian\.mirror" has string "ftp\.example", expected an http:\/\/, https:\/\/ or file:\/\/ URL/],
    [{ docker: 'unix:///x' }, /key "docker" must be an object, got string/],
    [[1, 2], /key "\(root\)" must be an object, got array/],
    [{ openwrt: { packages: ['luci', 'Bad Name'] } }, /key "openwrt\.packages\[1\]" has "Bad Name", expected an OpenWrt package name, or -name to leave a default package out/],
    [{ openwrt: { packages: 'luci' } }, /key "openwrt\.packages" has string "luci", expected an array of strings/],
  ];
  for (const [content, re] of cases) {
    const dir = await tempDir(t);
    await writeFile(path.join(dir, '.fwbuildrc.json'), JSON.stringify(content));
    const err = await t.throwsAsync(loadConfig({ cwd: dir, env: {} }), { instanceOf: UsageError });
    t.regex(err.message, re);
  }
});

test('an unreadable config file is a usage error naming the problem', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '.fwbuildrc.json'), '{ "target": ');
  const err = await t.throwsAsync(loadConfig({ cwd: dir, env: {} }), { instanceOf: UsageError });
  t.regex(err.message, /config file could not be read: .*fwbuildrc\.json/);
  const missing = await t.throwsAsync(loadConfig({ cwd: dir, file: 'nope.json', env: {} }), { instanceOf: UsageError });
  t.is(missing.message, 'config file nope.json does not exist');
});

test('CLI: a bad config exits 2 with one line on stderr and a JSON error under --json', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'lab'));
  await writeFile(path.join(dir, 'lab', 'fwbuild.config.json'), JSON.stringify({ target: 'qemu-mips', cachDir: '/x' }));
  const r = await runCli(['targets', '--config', 'lab/fwbuild.config.json'], { cwd: dir });
  t.is(r.code, 2);
  t.regex(r.stderr, /^fwbuild: lab\/fwbuild\.config\.json: key "cachDir" unknown key \(did you mean "cacheDir"\?\)/);
  t.is(r.stdout, '');
  const j = await runCli(['targets', '--json', '--config', 'lab/fwbuild.config.json'], { cwd: dir });
  t.is(j.code, 2);
  const doc = JSON.parse(j.stdout) as { ok: boolean; error: { exitCode: number; message: string } };
  t.false(doc.ok);
  t.is(doc.error.exitCode, 2);
  t.regex(doc.error.message, /cachDir/);
});

test('CLI: an unknown target or profile from the config exits 2 before any work', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '.fwbuildrc.json'), JSON.stringify({ target: 'qemu-mipsle' }));
  const r = await runCli(['--json'], { cwd: dir });
  t.is(r.code, 2);
  t.regex(JSON.parse(r.stdout).error.message, /unknown target "qemu-mipsle" \(did you mean "qemu-mipsel"/);
  const p = await runCli(['--target', 'qemu-mips', '--profile', 'virt'], { cwd: dir });
  t.is(p.code, 2);
  t.regex(p.stderr, /unknown profile "virt" for target qemu-mips; accepted: malta/);
});

test('an OpenWrt mirror must be an http(s) URL without characters a feed line or sed would read, in the file and on the command line', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'fwbuild.config.json'), JSON.stringify({ openwrt: { mirrors: ['https://mirror.example/openwrt#x'] } }));
  const e = await t.throwsAsync(loadConfig({ cwd: dir, env: {} }), { instanceOf: UsageError });
  t.regex(e.message, /key "openwrt\.mirrors\[0\]" has "https:\/\/mirror\.example\/openwrt#x", expected an http:\/\/ or https:\/\/ URL/);
  await writeFile(path.join(dir, 'fwbuild.config.json'), JSON.stringify({ openwrt: { mirrors: ['https://mirror.example/openwrt'] } }));
  t.deepEqual((await loadConfig({ cwd: dir, env: {} })).openwrt.mirrors, ['https://mirror.example/openwrt']);
  const cli = await t.throwsAsync(loadConfig({ cwd: dir, env: {}, overrides: { openwrt: { mirrors: ['ftp://mirror.example/openwrt'] } } }), { instanceOf: UsageError });
  t.regex(cli.message, /^--mirror: "ftp:\/\/mirror\.example\/openwrt", expected an http:\/\/ or https:\/\/ URL/);
});
