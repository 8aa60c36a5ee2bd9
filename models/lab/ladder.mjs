// The lab's bitrate ladder: 16:9 rungs at bitrates typical of streaming services' H.264 ladders.
export const LADDER = [
  { name: '240p', kbps: 400 },
  { name: '360p', kbps: 750 },
  { name: '480p', kbps: 1200 },
  { name: '720p', kbps: 2500 },
  { name: '1080p', kbps: 4500 },
];
