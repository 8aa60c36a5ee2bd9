// The lab's bitrate ladder: 16:9 rungs at bitrates typical of streaming services' H.264 ladders.
// The scripted player and the synthetic server use name and kbps; the encoded media (media.ts)
// every field, and a real player's rendered frame height names its rung.
export const LADDER = [
  { name: '240p', kbps: 400, width: 426, height: 240 },
  { name: '360p', kbps: 750, width: 640, height: 360 },
  { name: '480p', kbps: 1200, width: 854, height: 480 },
  { name: '720p', kbps: 2500, width: 1280, height: 720 },
  { name: '1080p', kbps: 4500, width: 1920, height: 1080 },
];

/** The rung whose height a rendered frame has (the nearest, for a player that scales). */
export function rungOfHeight(height) {
  let best = 0;
  for (let r = 1; r < LADDER.length; r++) if (Math.abs(LADDER[r].height - height) < Math.abs(LADDER[best].height - height)) best = r;
  return best;
}
