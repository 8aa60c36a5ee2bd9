// The lab's client: a scripted adaptive video player, and background traffic, run in the client
// namespace. Prints one JSON document with the player's ground truth when the session ends.
//   node player.mjs '{"server":"10.0.2.2:8080","seconds":80,"segS":4,"seed":7,"background":"web"}'
// ("video":false: the background traffic alone)
//
// The player fetches a manifest, then segments in order over one keep-alive connection (as
// players do). Rung choice: a throughput rule (harmonic mean of the last three segments'
// throughput x 0.85) capped by buffer rules: below two segments of buffer it never steps up,
// and it steps up one rung at a time. Startup: playback starts when the first segment is in.
// It stops fetching while the buffer is full (20 s) and stalls when the buffer runs dry.
import http from 'node:http';
import { LADDER } from './ladder.mjs';

const o = JSON.parse(process.argv[2]);
const [host, port] = o.server.split(':');
const seg = o.segS;
const maxBuffer = 20;
const videoAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const now = () => Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

const inFlight = new Set();
function get(path, agent) {
  return new Promise((resolve, reject) => {
    const t = now();
    const req = http.get({ host, port, path, agent }, (res) => {
      let bytes = 0;
      res.on('data', (d) => (bytes += d.length));
      res.on('end', () => resolve({ bytes, ms: now() - t, localPort: req.socket?.localPort }));
      res.on('error', reject);
    });
    req.on('error', reject);
    inFlight.add(req);
    req.on('close', () => inFlight.delete(req));
  });
}

const t0 = now();
const end = t0 + o.seconds * 1000;
const segments = [];
let videoPort;
let playEnd = 0; // when the last downloaded segment finishes playing

async function play() {
  const manifest = await get('/bytes/3000', videoAgent);
  videoPort = manifest.localPort;
  let rung = 1;
  const tput = [];
  for (let k = 0; now() < end; k++) {
    const buffer = segments.length ? Math.max(0, playEnd - now()) / 1000 : 0;
    if (buffer > maxBuffer - seg) {
      await sleep(Math.min(playEnd - (maxBuffer - seg) * 1000, end) - now());
      k--;
      continue;
    }
    if (k > 0) {
      const recent = tput.slice(-3);
      const est = (recent.length / recent.reduce((a, b) => a + 1 / b, 0)) * 0.85;
      let fit = 0;
      for (let r = 0; r < LADDER.length; r++) if (LADDER[r].kbps <= est) fit = r;
      rung = buffer < 2 * seg ? Math.min(fit, rung) : Math.min(fit, rung + 1);
    }
    const req = now();
    const r = await get(`/video/${rung}/${k}?dur=${seg}&seed=${o.seed}`, videoAgent);
    const arrive = now();
    tput.push((r.bytes * 8) / Math.max(1, arrive - req)); // kbit/s
    const start = segments.length === 0 ? arrive : Math.max(arrive, playEnd);
    playEnd = start + seg * 1000;
    segments.push({ k, rung, bytes: r.bytes, reqMs: req, arriveMs: arrive, playStartMs: start, playEndMs: playEnd });
  }
}

async function background(kind) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let n = 0;
  while (now() < end - 3000) {
    n++;
    if (kind === 'bulk') {
      // a large download on a fresh connection every 20-30 s
      await get(`/bytes/${(4 + ((o.seed * 7 + n * 5) % 13)) << 20}`, undefined).catch(() => {});
      await sleep(20_000 + ((o.seed + n) % 10) * 1000);
    } else {
      // a page: 6-20 objects of 10-300 KB over up to 4 connections, then 3-8 s of reading
      const objects = 6 + ((o.seed + n * 3) % 15);
      await Promise.all(
        Array.from({ length: objects }, (_, i) => get(`/bytes/${10_000 + (((o.seed + n) * 7919 + i * 104729) % 290_000)}`, agent).catch(() => {})),
      );
      await sleep(3000 + ((o.seed * 13 + n) % 6) * 1000);
    }
  }
  agent.destroy();
}

// the session ends on time: what is still downloading (a bulk transfer, a late segment) is cut
const cut = setTimeout(() => {
  for (const req of inFlight) req.destroy();
}, end - now());
// video: false plays nothing: the background beside a real player (collect.ts)
await Promise.all([o.video === false ? Promise.resolve() : play().catch(() => {}), o.background && o.background !== 'none' ? background(o.background) : Promise.resolve()]);
clearTimeout(cut);
videoAgent.destroy();
process.stdout.write(
  `${JSON.stringify({ startMs: t0, endMs: Math.min(now(), end), segS: seg, videoPort, startupS: segments.length ? (segments[0].playStartMs - t0) / 1000 : null, segments })}\n`,
);
