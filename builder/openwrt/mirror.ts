import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import got, { type Progress } from 'got';
import { BuildError, InterruptedError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { sha256File } from '../util/hash.js';
import { parseSums } from '../util/sums.js';
import { parseVersionsJson, type VersionsJson } from './releases.js';
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
  /** Largest file accepted (bytes); fileCap(name) unless a test lowers it. */
  maxFileBytes?: number;
  /** Overall deadline of one file download (ms); FILE_DEADLINE_MS unless a test shortens it. */
  deadlineMs?: number;
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
    if (this.o.offline) return parseVersionsJson(await this.offlineRead(saved, '.versions.json'), saved);
    const body = await this.fetchSmall('.versions.json');
    const v = parseVersionsJson(body, `${this.o.mirrors[0]}/.versions.json`);
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
    return parseSums(sums.toString('utf8'), `${dir}/sha256sums`);
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

  /**
   * Streams into `part`, resuming from its current size with a Range request. A `.part` the
   * server cannot resume from (416: it is as long as the file, or longer) is discarded and the
   * download starts over; bytes past the name's cap stop it.
   */
  private async download(url: string, part: string, name: string): Promise<void> {
    const have = (await stat(part).catch(() => undefined))?.size ?? 0;
    const cap = this.o.maxFileBytes ?? fileCap(name);
    const stream = got.stream(url, {
      ...requestOptions(url, this.timeout, this.o.deadlineMs ?? FILE_DEADLINE_MS, this.o.signal),
      headers: have > 0 ? { range: `bytes=${have}-` } : {},
      throwHttpErrors: true,
    });
    let append = false;
    stream.on('response', (res: { statusCode: number; headers: Record<string, string | string[] | undefined> }) => {
      append = have > 0 && res.statusCode === 206;
      const length = Number(res.headers['content-length'] ?? NaN);
      if ((append ? have : 0) + length > cap) {
        stream.destroy(new BuildError(`${name} is ${(append ? have : 0) + length} bytes by the server's word, over the ${cap} bytes fwbuild accepts for it`));
      }
    });
    let last = -1;
    stream.on('downloadProgress', (p: Progress) => {
      const pct = Math.floor(p.percent * 100);
      if (pct !== last && p.total) {
        last = pct;
        this.o.say?.(`${name}: ${pct}% of ${Math.round((have + p.total) / 1024)} KiB${have ? ' (resumed)' : ''}`);
      }
    });
    const stop = watchRate(stream, this.timeout, name);
    const over = { error: undefined as BuildError | undefined };
    try {
      // the first chunk arrives only after 'response': choose append or truncate lazily
      await pipeline(stream, lazyWriter(part, () => append, () => (append ? have : 0), cap, name, over));
    } catch (caught) {
      // got reports its own abort when the writer stops it; the writer's reason is the real one
      const e = over.error ?? caught;
      if (have > 0 && (e as { response?: { statusCode?: number } }).response?.statusCode === 416) {
        this.o.say?.(`${name}: the partial download cannot be resumed (416): starting over`);
        await rm(part, { force: true });
        return this.download(url, part, name);
      }
      if (e instanceof BuildError) await rm(part, { force: true });
      throw e;
    } finally {
      stop();
    }
  }

  private async fetchSmall(rel: string): Promise<Buffer> {
    const errors: string[] = [];
    for (const base of this.o.mirrors) {
      for (let attempt = 1; attempt <= this.attempts; attempt++) {
        this.checkAbort();
        const url = `${trimSlash(base)}/${rel}`;
        try {
          return await readCapped(got.stream(url, requestOptions(url, this.timeout, this.timeout * SMALL_DEADLINE_TIMEOUTS, this.o.signal)), SMALL_MAX_BYTES, rel);
        } catch (e) {
          if (this.o.signal?.aborted) throw new InterruptedError('SIGINT');
          errors.push(`${base}: ${(e as Error).message}`);
          if ((e as { response?: { statusCode?: number } }).response?.statusCode === 404 || e instanceof BuildError) break;
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

const MiB = 1024 * 1024;
/** .versions.json, sha256sums and their signatures are kilobytes; anything past this is not one. */
const SMALL_MAX_BYTES = 4 * MiB;
/**
 * Files of a target folder: profiles.json is a few MB, SDKs and ImageBuilders a few hundred
 * (the largest 24.10 SDK is under 400 MB). The signed list gives no sizes, so these caps bound
 * what a hostile or broken server can write to disk.
 */
const FILE_CAPS: readonly { pattern: RegExp; maxBytes: number }[] = [
  { pattern: /\.json$/, maxBytes: 64 * MiB },
  { pattern: /./, maxBytes: 2048 * MiB },
];
export const fileCap = (name: string): number => FILE_CAPS.find((c) => c.pattern.test(name))!.maxBytes;
/** A transfer slower than this, over a whole timeout window, is given up (a server trickling bytes). */
const MIN_BYTES_PER_SECOND = 1024;
/** Overall deadline of a small file's request, in timeouts. */
const SMALL_DEADLINE_TIMEOUTS = 4;
/** Overall deadline of one download of a large file: 400 MB in 2 hours is 56 KB/s. */
const FILE_DEADLINE_MS = 2 * 3600 * 1000;

/**
 * got's options for one request: every phase has the idle timeout and the whole request a
 * deadline; redirects to another host are refused (a mirror is trusted by its name, and the
 * user should see where files come from).
 */
function requestOptions(url: string, timeout: number, deadline: number, signal: AbortSignal | undefined) {
  const host = new URL(url).host;
  return {
    timeout: { lookup: timeout, connect: timeout, socket: timeout, response: timeout, request: deadline },
    retry: { limit: 0 },
    hooks: {
      beforeRedirect: [
        (next: { url?: URL | string }) => {
          const to = new URL(String(next.url));
          if (to.host !== host) throw new BuildError(`${url} redirects to another host (${to.host}): refused; add ${to.origin} with --mirror if you trust it`);
        },
      ],
    },
    ...(signal ? { signal } : {}),
  };
}

/** Gives up on a stream that moves fewer than MIN_BYTES_PER_SECOND over a whole window. */
function watchRate(stream: { destroy(e: Error): void; on(ev: 'data', fn: (d: Buffer) => void): unknown }, windowMs: number, what: string): () => void {
  let seen = 0;
  let mark = 0;
  stream.on('data', (d: Buffer) => (seen += d.length));
  const timer = setInterval(() => {
    if (seen - mark < (MIN_BYTES_PER_SECOND * windowMs) / 1000) {
      stream.destroy(new Error(`${what}: ${seen - mark} bytes in ${Math.round(windowMs / 1000)} s, slower than ${MIN_BYTES_PER_SECOND} B/s: given up`));
    }
    mark = seen;
  }, windowMs);
  return () => clearInterval(timer);
}


/** A write stream opened on the first chunk, appending or truncating as `append()` then says. */
function lazyWriter(file: string, append: () => boolean, start: () => number, cap: number, name: string, over: { error: BuildError | undefined }) {
  return async (source: AsyncIterable<Buffer>): Promise<void> => {
    let out: ReturnType<typeof createWriteStream> | undefined;
    let size = 0;
    try {
      for await (const chunk of source) {
        if (!out) {
          out = createWriteStream(file, { flags: append() ? 'a' : 'w' });
          size = start();
        }
        size += chunk.length;
        if (size > cap) throw (over.error = new BuildError(`${name}: the server sent more than the ${cap} bytes fwbuild accepts for it; the partial file was deleted`));
        if (!out.write(chunk)) await new Promise<void>((r) => out!.once('drain', () => r()));
      }
      out ??= createWriteStream(file, { flags: append() ? 'a' : 'w' });
    } finally {
      if (out) await new Promise<void>((r, j) => out!.end((e?: Error | null) => (e ? j(e) : r())));
    }
  };
}

/** A response body in memory, refused past `cap` bytes. */
async function readCapped(stream: AsyncIterable<Buffer>, cap: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > cap) throw new BuildError(`${what}: the server sent more than ${cap} bytes, far more than such a file holds`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
