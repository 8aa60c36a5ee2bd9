/** Shaka Player (Google's) in Chromium. */
import { browserAdapter } from './browser.js';

type ShakaPlayer = {
  attach(v: HTMLVideoElement): Promise<void>;
  load(url: string): Promise<void>;
  addEventListener(ev: string, f: () => void): void;
  getVariantTracks(): { active: boolean; height: number | null }[];
};

export default browserAdapter({
  name: 'shaka',
  manifest: 'dash',
  lib: 'shaka-player/dist/shaka-player.compiled.js',
  start: (url: string) => {
    const g = window as unknown as { shaka: { polyfill: { installAll(): void }; Player: new () => ShakaPlayer }; __lab: { ownReport(h: number, what: string): void } };
    g.shaka.polyfill.installAll();
    const player = new g.shaka.Player();
    // Shaka's active track: the variant it streams now, which leads the picture
    const report = (what: string) => () => {
      const t = player.getVariantTracks().find((x) => x.active);
      if (t?.height) g.__lab.ownReport(t.height, what);
    };
    player.addEventListener('adaptation', report('adaptation'));
    player.addEventListener('variantchanged', report('variantchanged'));
    void player.attach(document.getElementById('v') as HTMLVideoElement).then(() => player.load(url));
  },
});
