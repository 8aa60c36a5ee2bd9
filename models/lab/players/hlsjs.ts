/** hls.js (the video-dev group's HLS player on Media Source Extensions) in Chromium, on the HLS playlists of the same segments. */
import { browserAdapter } from './browser.js';

type HlsPlayer = {
  loadSource(url: string): void;
  attachMedia(v: HTMLVideoElement): void;
  on(ev: string, f: (ev: string, data: { level: number }) => void): void;
  levels: { height: number }[];
};

export default browserAdapter({
  name: 'hlsjs',
  manifest: 'hls',
  lib: 'hls.js/dist/hls.min.js',
  start: (url: string) => {
    type HlsClass = { new (): HlsPlayer; Events: Record<string, string> };
    const g = window as unknown as { Hls: HlsClass; __lab: { ownReport(h: number, what: string): void } };
    const hls = new g.Hls();
    // what hls.js says: the level it now loads (LEVEL_SWITCHING) and the one it switched to (LEVEL_SWITCHED), both ahead of the picture
    for (const ev of ['LEVEL_SWITCHING', 'LEVEL_SWITCHED'])
      hls.on(g.Hls.Events[ev]!, (_e, data) => {
        const h = hls.levels[data.level]?.height;
        if (h) g.__lab.ownReport(h, ev);
      });
    const v = document.getElementById('v') as HTMLVideoElement;
    hls.on(g.Hls.Events['MANIFEST_PARSED']!, () => void v.play().catch(() => {}));
    hls.loadSource(url);
    hls.attachMedia(v);
  },
});
