/**
 * What a hostile OpenWrt server costs fwbuild's downloader with its default settings: memory
 * for an endless small file, disk for an endless tarball, time for a server that trickles one
 * byte at a time. The server is on 127.0.0.1. Prints figures; never passes or fails on them.
 *   npm run bench:hostile-mirror [-- --json]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OpenWrtMirror } from '../builder/openwrt/mirror.js';

const { values } = parseArgs({ options: { json: { type: 'boolean' } } });
const SDK = 'openwrt-sdk-24.10.8-ath79-generic_gcc-13.3.0_musl.Linux-x86_64.tar.zst';
const chunk = randomBytes(256 * 1024);
const server = createServer((req, res) => {
  res.writeHead(200);
  if (req.url!.startsWith('/trickle/')) {
    const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write('x')), 1000);
    return;
  }
  const more = (): void => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', more);
  };
  more();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-bench-mirror-'));
const client = (prefix: string) => new OpenWrtMirror({ mirrors: [`${url}/${prefix}`], offline: false, downloadDir: dir, keyring: [] });
const sums = new Map([[SDK, 'f'.repeat(64)]]);

async function measure(what: () => Promise<unknown>, poll?: () => Promise<number>) {
  const rss0 = process.memoryUsage().rss;
  let peakRss = rss0;
  let peakDisk = 0;
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    void poll?.().then((n) => (peakDisk = Math.max(peakDisk, n)));
  }, 50);
  const t0 = Date.now();
  const error = await what().then(() => 'no error', (e: Error) => e.message.split('\n').slice(-1)[0]!.trim());
  clearInterval(timer);
  return { seconds: (Date.now() - t0) / 1000, rssGrowthMiB: (peakRss - rss0) / 2 ** 20, peakDiskMiB: peakDisk / 2 ** 20, error };
}

const diskUse = async (): Promise<number> => {
  const d = path.join(dir, 'sha256');
  const files = await readdir(d).catch(() => []);
  let n = 0;
  for (const f of files) n += (await stat(path.join(d, f)).catch(() => ({ size: 0 }))).size;
  return n;
};

const results = {
  endlessVersionsJson: await measure(() => client('endless').versions()),
  endlessSdk: await measure(() => client('endless').file('releases/24.10.8/targets/ath79/generic', SDK, sums), diskUse),
  trickleSdk: await measure(() => client('trickle').file('releases/24.10.8/targets/ath79/generic', SDK, sums), diskUse),
};
server.closeAllConnections();
server.close();
await rm(dir, { recursive: true, force: true });
if (values.json) console.log(JSON.stringify(results, null, 2));
else {
  console.log('hostile server on 127.0.0.1, fwbuild defaults (timeout 15 s, 3 attempts)');
  for (const [k, r] of Object.entries(results)) {
    console.log(`${k.padEnd(20)} ${r.seconds.toFixed(1).padStart(6)} s  RSS +${r.rssGrowthMiB.toFixed(0)} MiB  disk peak ${r.peakDiskMiB.toFixed(0)} MiB  -> ${r.error}`);
  }
}
