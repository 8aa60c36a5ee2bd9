import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import got, { type Progress } from 'got';
import { BuildError, InterruptedError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { sha256File } from '../util/hash.js';
import { parseSums } from '../util/sums.js';
import type { VersionsJson } from './releases.js';
import { verifyGpg, type GpgTrust } from './gpg.js';
import { verifyUsign, type UsignKey } from './usign.js';

export interface MirrorOptions {
  /** Base URLs tried in order (the OpenWrt download server's layout below each). */
  mirrors: string[];
  /** Use only the download folder; never touch the network. */
  offline: boolean;
  /** Content-addressed downloads: `<dir>/sha256/<hex>`, signed lists under `<dir>/meta/`. */
  downloadDir: string;
  keyring: readonly UsignKey[];
  /** Check sha256sums.asc with gpg instead of sha256sums.sig with usign. */
  gpg?: GpgTrust;
  signal?: AbortSignal;
  /** Per request: connecting and each wait for data (ms). A dead server fails within a few of these. */
  timeoutMs?: number;
  /** Attempts per mirror before the next one. */
  attempts?: number;
  say?: (s: string) => void;
}

/**
 * The OpenWrt download server, or a mirror of it, as fwbuild uses it: signed checksum lists
 * first, then each file checked against the list before it is used. Partial downloads resume;
 * finished ones are kept by content hash, so a second build (or `--offline`) needs no network.
 */
export class OpenWrtMirror {
  private readonly timeout: number;
  private readonly attempts: number;
  /** the usign key id (or gpg fingerprint) that signed the last checksum list */
  lastSigner: string | undefined;

  constructor(private readonly o: MirrorOptions) {
    if (!o.offline && o.mirrors.length === 0) throw new UsageError('no OpenWrt mirror configured', 'set openwrt.mirrors or pass --mirror URL');
    this.timeout = o.timeoutMs ?? 15_000;
    this.attempts = o.attempts ?? 3;
  }

  /** `.versions.json` (unsigned upstream; offline, the copy saved by the last online run). */
  async versions(): Promise<VersionsJson> {
    const saved = path.join(this.o.downloadDir, 'meta', '.versions.json');
    if (this.o.offline) return JSON.parse(await this.offlineRead(saved, '.versions.json')) as VersionsJson;
    const body = await this.fetchSmall('.versions.json');
    const v = JSON.parse(body.toString('utf8')) as VersionsJson;
    await writeFileAtomic(saved, body);
    return v;
  }

  /**
   * `<dir>/sha256sums`, checked against `<dir>/sha256sums.sig` with the keyring; the pair is
   * kept for offline use and checked again when read from there.
   */
  async signedSums(dir: string): Promise<Map<string, string>> {
    const local = path.join(this.o.downloadDir, 'meta', dir);
    const sigName = this.o.gpg ? 'sha256sums.asc' : 'sha256sums.sig';
    let sums: Buffer;
    let sig: string;
    if (this.o.offline) {
      sums = Buffer.from(await this.offlineRead(path.join(local, 'sha256sums'), `${dir}/sha256sums`));
      sig = await this.offlineRead(path.join(local, sigName), `${dir}/${sigName}`);
    } else {
      sums = await this.fetchSmall(`${dir}/sha256sums`);
      sig = (await this.fetchSmall(`${dir}/${sigName}`)).toString('utf8');
    }
    this.lastSigner = this.o.gpg
      ? await verifyGpg(sums, sig, this.o.gpg, `${dir}/sha256sums`)
      : verifyUsign(sums, sig, this.o.keyring, `${dir}/sha256sums`).keyId;
    if (!this.o.offline) {
      await writeFileAtomic(path.join(local, 'sha256sums'), sums);
      await writeFileAtomic(path.join(local, sigName), Buffer.from(sig));
    }
    return parseSums(sums.toString('utf8'));
  }

  /** A file of `<dir>` that the signed list names, verified, as a local path. */
  async file(dir: string, name: string, sums: Map<string, string>): Promise<string> {
    const want = sums.get(name);
    if (!want) throw new BuildError(`${dir}/sha256sums does not list ${name}: it is not part of this release`);
    const dest = path.join(this.o.downloadDir, 'sha256', want);
    if (await stat(dest).then(() => true, () => false)) {
      if ((await sha256File(dest)) === want) return dest;
      await rm(dest, { force: true }); // damaged in the cache: fetch again
    }
    if (this.o.offline) {
      throw new UsageError(
        `--offline: ${dir}/${name} is not in the download folder`,
        `put the file (sha256 ${want}) at ${dest}, or run once without --offline`,
      );
    }
    const part = `${dest}.part`;
    await mkdir(path.dirname(dest), { recursive: true });
    const errors: string[] = [];
    for (const base of this.o.mirrors) {
      for (let attempt = 1; attempt <= this.attempts; attempt++) {
        this.checkAbort();
        try {
          await this.download(`${trimSlash(base)}/${dir}/${name}`, part, name);
          const got = await sha256File(part);
          if (got !== want) {
            await rm(part, { force: true });
            throw new BuildError(`${dir}/${name} from ${base}: sha256 ${got} does not match the signed list (${want}); the file was deleted`);
          }
          await rename(part, dest);
          return dest;
        } catch (e) {
          if (e instanceof InterruptedError || this.o.signal?.aborted) throw new InterruptedError('SIGINT');
          // a checksum mismatch is not retried from the same mirror: it would come back the same
          errors.push(`${base}: ${(e as Error).message}`);
          if (e instanceof BuildError) break;
        }
      }
    }
    throw new BuildError(`cannot download ${dir}/${name}:\n  ${errors.join('\n  ')}`, 'check --mirror, or use --offline with the file in the download folder');
  }

  /** Streams into `part`, resuming from its current size with a Range request. */
  private async download(url: string, part: string, name: string): Promise<void> {
    const have = (await stat(part).catch(() => undefined))?.size ?? 0;
    const stream = got.stream(url, {
      headers: have > 0 ? { range: `bytes=${have}-` } : {},
      timeout: { lookup: this.timeout, connect: this.timeout, socket: this.timeout, response: this.timeout },
      retry: { limit: 0 },
      throwHttpErrors: true,
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
    let append = false;
    stream.on('response', (res: { statusCode: number }) => {
      append = have > 0 && res.statusCode === 206;
    });
    let last = -1;
    stream.on('downloadProgress', (p: Progress) => {
      const pct = Math.floor(p.percent * 100);
      if (pct !== last && p.total) {
        last = pct;
        this.o.say?.(`${name}: ${pct}% of ${Math.round((have + p.total) / 1024)} KiB${have ? ' (resumed)' : ''}`);
      }
    });
    // the first chunk arrives only after 'response': choose append or truncate lazily
    await pipeline(stream, lazyWriter(part, () => append));
  }

  private async fetchSmall(rel: string): Promise<Buffer> {
    const errors: string[] = [];
    for (const base of this.o.mirrors) {
      for (let attempt = 1; attempt <= this.attempts; attempt++) {
        this.checkAbort();
        try {
          return await got(`${trimSlash(base)}/${rel}`, {
            timeout: { lookup: this.timeout, connect: this.timeout, socket: this.timeout, response: this.timeout },
            retry: { limit: 0 },
            ...(this.o.signal ? { signal: this.o.signal } : {}),
          }).buffer();
        } catch (e) {
          if (this.o.signal?.aborted) throw new InterruptedError('SIGINT');
          errors.push(`${base}: ${(e as Error).message}`);
          if ((e as { response?: { statusCode?: number } }).response?.statusCode === 404) break;
        }
      }
    }
    throw new BuildError(`cannot download ${rel}:\n  ${errors.join('\n  ')}`, 'check --mirror, or use --offline with a filled download folder');
  }

  private async offlineRead(file: string, what: string): Promise<string> {
    return readFile(file, 'utf8').catch(() => {
      throw new UsageError(`--offline: ${what} is not in the download folder`, `run once without --offline to fill ${path.dirname(file)}`);
    });
  }

  private checkAbort(): void {
    if (this.o.signal?.aborted) throw new InterruptedError('SIGINT');
  }
}

const trimSlash = (s: string): string => s.replace(/\/+$/, '');


/** A write stream opened on the first chunk, appending or truncating as `append()` then says. */
function lazyWriter(file: string, append: () => boolean) {
  return async (source: AsyncIterable<Buffer>): Promise<void> => {
    let out: ReturnType<typeof createWriteStream> | undefined;
    try {
      for await (const chunk of source) {
        out ??= createWriteStream(file, { flags: append() ? 'a' : 'w' });
        if (!out.write(chunk)) await new Promise<void>((r) => out!.once('drain', () => r()));
      }
      out ??= createWriteStream(file, { flags: append() ? 'a' : 'w' });
    } finally {
      if (out) await new Promise<void>((r, j) => out!.end((e?: Error | null) => (e ? j(e) : r())));
    }
  };
}
