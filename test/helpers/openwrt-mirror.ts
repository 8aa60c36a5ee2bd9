/**
 * A test double of the OpenWrt download server (unreachable here): a real HTTP server on
 * localhost with OpenWrt's layout. It serves the real .versions.json and profiles.json samples
 * and, as SDK and ImageBuilder, test tarballs made here, with sha256sums signed by a usign key
 * made here. It can cut a download, alter a file, or never answer.
 */
import type { ExecutionContext } from 'ava';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseUsignKey, type UsignKey } from '../../builder/openwrt/usign.js';
import { projectPath } from '../../builder/util/paths.js';

/** A release the doubles stand in for: one of each package format (ath79/generic). */
export interface DoubleRelease {
  version: string;
  gcc: string;
  format: 'ipk' | 'apk';
}
export const RELEASE_24: DoubleRelease = { version: '24.10.8', gcc: '13.3.0', format: 'ipk' };
export const RELEASE_25: DoubleRelease = { version: '25.12.5', gcc: '14.3.0', format: 'apk' };

/** OpenWrt's names for a release's target folder, tarballs and their top folders. */
export function releaseNames(r: DoubleRelease) {
  const sdkTop = `openwrt-sdk-${r.version}-ath79-generic_gcc-${r.gcc}_musl.Linux-x86_64`;
  const ibTop = `openwrt-imagebuilder-${r.version}-ath79-generic.Linux-x86_64`;
  return { dir: `releases/${r.version}/targets/ath79/generic`, sdkTop, ibTop, sdk: `${sdkTop}.tar.zst`, imageBuilder: `${ibTop}.tar.zst`, toolchain: `toolchain-mips_24kc_gcc-${r.gcc}_musl` };
}

export const { dir: DIR, sdk: SDK, imageBuilder: IMAGEBUILDER } = releaseNames(RELEASE_24);

export function usignPair(keyIdHex: string) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const id = Buffer.from(keyIdHex, 'hex');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const keyLine = Buffer.concat([Buffer.from('Ed'), id, pub]).toString('base64');
  return {
    keyLine,
    key: parseUsignKey(`untrusted comment: test\n${keyLine}\n`),
    sign: (data: Buffer) => `untrusted comment: test\n${Buffer.concat([Buffer.from('Ed'), id, sign(null, data, privateKey)]).toString('base64')}\n`,
  };
}

export interface Mirror {
  url: string;
  root: string;
  requests: { path: string; range?: string }[];
  /** serve this file cut in half, once, then drop the connection */
  truncateOnce?: string;
  /** serve altered bytes for this file */
  tamper?: string;
  /** accept and never answer */
  hang?: boolean;
  /** answers a request itself when it returns true: a hostile server's behaviours, per test */
  override?: (rel: string, req: IncomingMessage, res: ServerResponse) => boolean;
  server: Server;
}

/**
 * `tarballs`: the SDK and ImageBuilder test doubles to serve (openwrt-tarballs.ts); random bytes
 * under the real names otherwise, for tests where only bytes and names matter.
 */
export async function mirror(
  t: ExecutionContext,
  signer = usignPair('0123456789abcdef'),
  tarballs?: { sdk: Buffer; imageBuilder: Buffer },
  release: DoubleRelease = RELEASE_24,
): Promise<Mirror & { sdk: Buffer; key: UsignKey; keyLine: string }> {
  const root = await mkdtemp(path.join(tmpdir(), 'fwbuild-owrt-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const { dir: rel, sdk: SDK, imageBuilder: IMAGEBUILDER } = releaseNames(release);
  const dir = path.join(root, rel);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(root, '.versions.json'), await readFile(projectPath('test', 'fixtures', 'openwrt', 'nix_versions.json')));
  const profiles = await readFile(projectPath('test', 'fixtures', 'openwrt', `profiles_${release.version}_ath79_generic.json`));
  const sdk = tarballs?.sdk ?? randomBytes(300_000);
  const ib = tarballs?.imageBuilder ?? randomBytes(200_000);
  await writeFile(path.join(dir, 'profiles.json'), profiles);
  await writeFile(path.join(dir, SDK), sdk);
  await writeFile(path.join(dir, IMAGEBUILDER), ib);
  const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const sums = Buffer.from(`${hex(profiles)} *profiles.json\n${hex(sdk)} *${SDK}\n${hex(ib)} *${IMAGEBUILDER}\n`);
  await writeFile(path.join(dir, 'sha256sums'), sums);
  await writeFile(path.join(dir, 'sha256sums.sig'), signer.sign(sums));
  const m = { root, requests: [] } as unknown as Mirror & { sdk: Buffer; key: UsignKey; keyLine: string };
  m.sdk = sdk;
  m.key = signer.key;
  m.keyLine = signer.keyLine;
  m.server = createServer((req, res) => {
    const rel = decodeURIComponent(req.url!.split('?')[0]!).replace(/^\/+/, '');
    m.requests.push({ path: rel, ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (m.hang) return; // never answers
    if (m.override?.(rel, req, res)) return;
    readFile(path.join(root, rel)).then(
      (body) => {
        if (m.tamper && rel.endsWith(m.tamper)) body = Buffer.concat([body.subarray(0, 100), Buffer.from('tampered'), body.subarray(108)]);
        const r = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
        if (r && Number(r[1]) >= body.length) {
          res.writeHead(416, { 'content-range': `bytes */${body.length}` });
          return res.end();
        }
        if (r) {
          const from = Number(r[1]);
          res.writeHead(206, { 'content-length': body.length - from, 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` });
          return res.end(body.subarray(from));
        }
        res.writeHead(200, { 'content-length': body.length });
        if (m.truncateOnce && rel.endsWith(m.truncateOnce)) {
          m.truncateOnce = undefined;
          // half, then the connection drops (after a pause, so the half reaches the client)
          res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.destroy(), 300));
          return;
        }
        res.end(body);
      },
      () => {
        res.writeHead(404);
        res.end('not found');
      },
    );
  });
  await new Promise<void>((r) => m.server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => (m.server.closeAllConnections(), m.server.close(() => r()))));
  m.url = `http://127.0.0.1:${(m.server.address() as AddressInfo).port}`;
  return m;
}

