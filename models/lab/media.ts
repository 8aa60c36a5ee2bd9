/**
 * Real encoded media for the lab's real players (issue 20): the ladder (ladder.mjs) of H.264
 * video rungs and one AAC audio track, encoded by Debian's ffmpeg from synthetic sources
 * (testsrc2 with moving noise, so the encoder has real work and segment sizes vary as in real
 * content; a sine for audio), then packaged as DASH (fMP4) with 2, 4 and 6 s segments, each with
 * an HLS playlist of the same segments (ffmpeg's dash muxer, hls_playlist).
 *
 *   npm run lab:media [-- --seconds 100]      prints the folder, e.g. .fwbuild-cache/lab-media/<hash>
 *
 * Every rung has a key frame every 2 s, so one encoding serves all three segment lengths. The
 * folder is named by the hash of everything that decides its bytes (ffmpeg's version, the
 * ladder, the settings), is written beside its final name and renamed into place: a folder
 * that exists is complete, and is reused. Media is never committed.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { projectPath } from '../../builder/util/paths.js';
import { LADDER } from './ladder.mjs';

const run = promisify(execFile);

export const SEGMENT_SECONDS = [2, 4, 6] as const;
const FPS = 24;
const GOP_S = 2;
const AUDIO_KBPS = 128;

export interface MediaSet {
  dir: string;
  seconds: number;
  /** per segment length: the DASH manifest and the HLS master playlist, relative to dir */
  manifests: Record<number, { dash: string; hls: string }>;
}

function layout(dir: string, seconds: number): MediaSet {
  return {
    dir,
    seconds,
    manifests: Object.fromEntries(SEGMENT_SECONDS.map((s) => [s, { dash: `dash-${s}s/manifest.mpd`, hls: `dash-${s}s/master.m3u8` }])),
  };
}

async function ffmpeg(args: string[], signal?: AbortSignal): Promise<void> {
  try {
    await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { signal, maxBuffer: 16 << 20 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error('ffmpeg is not installed: run scripts/host-setup --lab');
    throw new Error(`ffmpeg ${args.slice(0, 6).join(' ')}…: ${(err.stderr ?? err.message).trim().split('\n').slice(-3).join(' ')}`);
  }
}

/** The rung's encoding: capped VBR near its bitrate, a key frame every GOP_S, no scene cuts. */
function videoArgs(r: (typeof LADDER)[number], seconds: number, out: string): string[] {
  const k = FPS * GOP_S;
  return [
    '-f', 'lavfi', '-i', `testsrc2=size=${r.width}x${r.height}:rate=${FPS},noise=alls=12:allf=t+u`,
    '-t', String(seconds), '-an', '-aspect', '16:9', '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
    '-b:v', `${r.kbps}k`, '-maxrate', `${Math.round(r.kbps * 1.1)}k`, '-bufsize', `${r.kbps * 2}k`,
    '-g', String(k), '-keyint_min', String(k), '-sc_threshold', '0',
    // deterministic output: one thread, no encoder banner
    '-threads', '1', '-x264-params', 'threads=1', '-fflags', '+bitexact', '-flags:v', '+bitexact', out,
  ];
}

export async function mediaSet(seconds: number, signal?: AbortSignal): Promise<MediaSet> {
  if (!Number.isInteger(seconds) || seconds < 10 || seconds > 1200) throw new Error(`--seconds: ${seconds} is not a whole number from 10 to 1200`);
  const version = (await run('ffmpeg', ['-version']).catch(() => {
    throw new Error('ffmpeg is not installed: run scripts/host-setup --lab');
  })).stdout.split('\n')[0]!;
  const key = createHash('sha256')
    .update(JSON.stringify({ version, LADDER, seconds, FPS, GOP_S, AUDIO_KBPS, SEGMENT_SECONDS, v: videoArgs(LADDER[0]!, seconds, 'x') }))
    .digest('hex')
    .slice(0, 16);
  const root = projectPath('.fwbuild-cache', 'lab-media');
  const dir = path.join(root, key);
  if (await stat(dir).then(() => true, () => false)) return layout(dir, seconds);
  await mkdir(root, { recursive: true });
  const tmp = await mkdtemp(path.join(root, `.${key}-`));
  try {
    const rungs = LADDER.map((r) => path.join(tmp, `video-${r.height}p.mp4`));
    // one rung at a time, each on one thread: the lab's other work keeps a core
    for (const [i, r] of LADDER.entries()) await ffmpeg(videoArgs(r, seconds, rungs[i]!), signal);
    const audio = path.join(tmp, 'audio.mp4');
    await ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(seconds), '-c:a', 'aac', '-b:a', `${AUDIO_KBPS}k`, '-ac', '2', '-fflags', '+bitexact', '-flags:a', '+bitexact', audio], signal);
    for (const seg of SEGMENT_SECONDS) {
      const out = path.join(tmp, `dash-${seg}s`);
      await mkdir(out);
      const inputs = [...rungs, audio].flatMap((f) => ['-i', f]);
      const maps = [...rungs, audio].flatMap((_, i) => ['-map', String(i)]);
      await ffmpeg([
        ...inputs, ...maps, '-c', 'copy', '-f', 'dash', '-seg_duration', String(seg), '-use_template', '1', '-use_timeline', '0',
        '-adaptation_sets', 'id=0,streams=v id=1,streams=a', '-hls_playlist', '1', '-hls_master_name', 'master.m3u8',
        '-init_seg_name', 'init-$RepresentationID$.m4s', '-media_seg_name', 'seg-$RepresentationID$-$Number%05d$.m4s',
        '-fflags', '+bitexact', path.join(out, 'manifest.mpd'),
      ], signal);
    }
    for (const f of [...rungs, audio]) await rm(f);
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return layout(dir, seconds);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '100' } } });
  const t = Date.now();
  mediaSet(Number(values.seconds)).then(
    (m) => process.stdout.write(`${JSON.stringify({ ...m, encodeS: Math.round((Date.now() - t) / 1000) })}\n`),
    (e: unknown) => {
      process.stderr.write(`lab:media: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
