/** dash.js (the DASH Industry Forum's reference player) in Chromium. */
import { browserAdapter } from './browser.js';

type DashPlayer = {
  initialize(v: HTMLVideoElement, url: string, autoplay: boolean): void;
  on(ev: string, f: (e: { mediaType?: string; newRepresentation?: { height?: number } }) => void): void;
};

export default browserAdapter({
  name: 'dashjs',
  manifest: 'dash',
  lib: 'dashjs/dist/modern/umd/dash.all.min.js',
  start: (url: string) => {
    const g = window as unknown as { dashjs: { MediaPlayer(): { create(): DashPlayer } }; __lab: { ownReport(h: number, what: string): void } };
    const player = g.dashjs.MediaPlayer().create();
    // what dash.js says it switched to: the representation it now downloads, which leads the picture
    for (const ev of ['qualityChangeRequested', 'qualityChangeRendered'])
      player.on(ev, (e) => {
        if (e.mediaType === 'video' && e.newRepresentation?.height) g.__lab.ownReport(e.newRepresentation.height, ev);
      });
    player.initialize(document.getElementById('v') as HTMLVideoElement, url, true);
  },
});
