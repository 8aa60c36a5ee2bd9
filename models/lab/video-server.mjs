// The lab's server, run in its own network namespace: segmented video over HTTP/1.1 at a
// bitrate ladder, and the background traffic (bulk downloads, web-like pages).
//   node video-server.mjs HOST PORT
// GET /video/<rung>/<segment>?dur=S&seed=N  one segment: bitrate x duration, +-20% (VBR), by seed
// GET /bytes/<n>                            n bytes (bulk downloads and page objects)
import http from 'node:http';
import { LADDER } from './ladder.mjs';

const [host, port] = [process.argv[2] ?? '0.0.0.0', Number(process.argv[3] ?? 8080)];
// random bytes, as encrypted media is: nothing along the path can compress it
const block = Buffer.alloc(1 << 20);
for (let i = 0; i < block.length; i++) block[i] = (Math.imul(i, 2654435761) >>> 13) & 0xff;

/** The same segment has the same size every time: a deterministic variation per (seed, rung, index). */
export function segmentBytes(rung, index, durS, seed) {
  let h = (seed * 73856093) ^ (rung * 19349663) ^ (index * 83492791);
  h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
  const vbr = 0.8 + ((h % 1000) / 1000) * 0.4;
  return Math.round(((LADDER[rung].kbps * 1000) / 8) * durS * vbr);
}

function send(res, n) {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
  let left = n;
  const pump = () => {
    while (left > 0) {
      const k = Math.min(left, block.length);
      left -= k;
      if (!res.write(k === block.length ? block : block.subarray(0, k))) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://lab');
  let m = /^\/video\/(\d+)\/(\d+)$/.exec(url.pathname);
  if (m && LADDER[Number(m[1])]) {
    return send(res, segmentBytes(Number(m[1]), Number(m[2]), Number(url.searchParams.get('dur') ?? 4), Number(url.searchParams.get('seed') ?? 0)));
  }
  m = /^\/bytes\/(\d+)$/.exec(url.pathname);
  if (m) return send(res, Number(m[1]));
  res.writeHead(404).end();
});
server.keepAliveTimeout = 120_000;
server.listen(port, host, () => process.stdout.write(`${JSON.stringify({ listening: port })}\n`));
process.on('SIGTERM', () => process.exit(0));
