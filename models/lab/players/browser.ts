/**
 * A real player in Debian's Chromium, headless, inside the client's network namespace, driven
 * by playwright-core over its pipe (so the browser's traffic leaves from the namespace while
 * the driver stays outside). The page (media-server.mjs /player.html) holds one muted video
 * element; ground-truth instrumentation is added before the player's library, and the adapter's
 * `start` runs in the page with the manifest URL.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { projectPath } from '../../../builder/util/paths.js';
import { interruptionsOf, truthLog } from '../answers.js';
import type { GroundTruth, PlayerAdapter, PlayResult, PlaySpec, ViewerAction } from './types.js';

export const CHROMIUM = '/usr/bin/chromium';

/** The page side of an adapter: runs in the browser, must not use anything from this module. */
export interface BrowserPlayer {
  name: string;
  manifest: 'dash' | 'hls';
  /** the player's library: a path under node_modules, given to the page as /lib/<its basename> */
  lib: string;
  /** starts playback of `url` on the page's <video id="v">; reports via window.__lab.own(height, what) */
  start: (url: string) => void;
}

/** What the page records (window.__lab), read back at the session's end. */
interface PageLab {
  rendered: { ms: number; height: number }[];
  events: { ms: number; type: string }[];
  clock: { ms: number; currentTime: number }[];
  own: { ms: number; height: number; what: string }[];
}

/** In the page before anything else: the media element's events and each rendered frame's height. */
function instrument(): void {
  const lab: PageLab = { rendered: [], events: [], clock: [], own: [] };
  const w = window as unknown as { __lab: PageLab & { ownReport: (height: number, what: string) => void } };
  w.__lab = { ...lab, ownReport: (height, what) => w.__lab.own.push({ ms: Date.now(), height, what }) };
  document.addEventListener('DOMContentLoaded', () => {
    const v = document.getElementById('v') as HTMLVideoElement;
    for (const type of ['playing', 'waiting', 'pause', 'seeking', 'seeked', 'ended', 'error', 'stalled']) v.addEventListener(type, () => w.__lab.events.push({ ms: Date.now(), type }));
    let last = -1;
    const frame = (_now: number, meta: { height: number }) => {
      if (meta.height !== last) {
        last = meta.height;
        w.__lab.rendered.push({ ms: Date.now(), height: meta.height });
      }
      v.requestVideoFrameCallback(frame);
    };
    v.requestVideoFrameCallback(frame);
    setInterval(() => w.__lab.clock.push({ ms: Date.now(), currentTime: v.currentTime }), 1000);
  });
}

/** In the page: the viewer's pause or seek on the media element, as a viewer's click would do it. */
function act(a: { kind: ViewerAction['kind']; step: 'start' | 'end'; forS: number }): void {
  const v = document.getElementById('v') as HTMLVideoElement;
  if (a.kind === 'seek') v.currentTime += a.forS;
  else if (a.step === 'start') v.pause();
  else void v.play();
}

export function browserAdapter(p: BrowserPlayer): PlayerAdapter {
  return {
    name: p.name,
    server: 'media',
    manifest: p.manifest,
    actions: true,
    async play(spec: PlaySpec): Promise<PlayResult> {
      const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-browser-'));
      // the browser runs inside the namespace; playwright talks to it over inherited pipes
      const wrapper = path.join(dir, 'chromium-in-netns');
      await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec '${spec.netns}' ${CHROMIUM} "$@"\n`);
      await chmod(wrapper, 0o755);
      spec.signal.throwIfAborted();
      if (!spec.caSpki) throw new Error(`${p.name}: no CA to trust for https://${spec.server}`);
      const browser = await chromium.launch({
        executablePath: wrapper,
        headless: true,
        timeout: 60_000,
        args: [
          '--no-sandbox', // root in the lab; the page is the lab's own
          '--autoplay-policy=no-user-gesture-required',
          '--mute-audio',
          '--disable-quic',
          `--ignore-certificate-errors-spki-list=${spec.caSpki}`,
          ...(spec.transport === 'http1.1' ? ['--disable-http2'] : []),
        ],
      });
      // the lab stopping, or the session ending early, closes the browser
      const close = () => void browser.close().catch(() => {});
      spec.signal.addEventListener('abort', close, { once: true });
      try {
        const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
        // functions passed to the page keep their names under tsx (esbuild's keepNames wraps
        // them in __name(...)), a helper the page lacks: it is given one that does nothing
        await page.addInitScript({ content: 'globalThis.__name = (f) => f;' });
        await page.addInitScript(instrument);
        // the player's code comes from disk, as from a browser's cache: only media crosses the
        // shaped link (Shaka's 700 KB over a 500 kbit/s line with loss failed a session's start)
        const lib = projectPath('node_modules', p.lib);
        await page.route(`**/lib/${path.basename(p.lib)}`, (route) => route.fulfill({ path: lib, contentType: 'text/javascript' }));
        const startMs = Date.now();
        const origin = `https://${spec.server}`;
        await page.goto(`${origin}/player.html`);
        await page.addScriptTag({ url: `/lib/${path.basename(p.lib)}` });
        await page.evaluate(p.start, `${origin}${spec.manifest}`);
        const endAt = startMs + spec.seconds * 1000;
        const until = (ms: number) => page.waitForTimeout(Math.max(0, Math.min(ms, endAt) - Date.now()));
        const a = spec.action;
        if (a) {
          await until(startMs + a.atS * 1000);
          if (Date.now() < endAt) await page.evaluate(act, { kind: a.kind, step: 'start' as const, forS: a.forS });
          if (a.kind === 'pause') {
            await until(startMs + (a.atS + a.forS) * 1000);
            if (Date.now() < endAt) await page.evaluate(act, { kind: a.kind, step: 'end' as const, forS: a.forS });
          }
        }
        await until(endAt);
        const lab = await page.evaluate((): PageLab => {
          const l = (window as unknown as { __lab: PageLab }).__lab;
          return { rendered: l.rendered, events: l.events, clock: l.clock, own: l.own };
        });
        const endMs = Date.now();
        const firstPlaying = lab.events.find((e) => e.type === 'playing');
        const { stalls, held } = interruptionsOf(lab.events, endMs);
        const truth: GroundTruth = {
          player: p.name,
          startMs,
          endMs,
          startupS: firstPlaying ? (firstPlaying.ms - startMs) / 1000 : null,
          rendered: lab.rendered,
          stalls,
          held,
          own: lab.own,
          clock: lab.clock,
        };
        return { log: truthLog(truth, spec.segS), truth };
      } finally {
        spec.signal.removeEventListener('abort', close);
        await browser.close().catch(() => {});
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
