// The lab's media server for real players, run in the server's network namespace: the encoded
// media (media.ts) and the players' page, over HTTPS with HTTP/2 or HTTP/1.1 as the client's
// ALPN asks (one multiplexed connection, or several). The players' code is not served: the
// browser takes it from disk (players/browser.ts).
//   node media-server.mjs '{"host":"10.79.0.2","port":443,"media":DIR,"key":FILE,"cert":FILE}'
// Prints {"listening":port}, then one JSON line per response when it ends: the time, the path,
// the bytes sent, the protocol and the connection (a number per TCP connection), which is the
// network side of the ground truth.
import http2 from 'node:http2';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const o = JSON.parse(process.argv[2]);
const TYPES = { '.mpd': 'application/dash+xml', '.m3u8': 'application/vnd.apple.mpegurl', '.m4s': 'video/iso.segment', '.mp4': 'video/mp4', '.js': 'text/javascript', '.html': 'text/html; charset=utf-8' };
const PAGE = '<!doctype html><meta charset="utf-8"><title>lab player</title><body style="margin:0;background:#000"><video id="v" muted autoplay playsinline style="width:100vw;height:100vh"></video></body>';
const connections = new WeakMap();
let nextConnection = 1;

/** The file a URL path names under root, or null: no path may leave the root. */
function inside(root, rel) {
  let file;
  try {
    file = path.resolve(root, `.${decodeURIComponent(rel)}`);
  } catch {
    return null; // not a valid percent-encoding
  }
  return file.startsWith(`${path.resolve(root)}${path.sep}`) ? file : null;
}

function handler(req, res) {
  const t = Date.now();
  const url = new URL(req.url, 'https://lab');
  // one key per TCP connection: HTTP/2's session (its req.socket is a new proxy per stream), HTTP/1's socket
  const sock = req.stream?.session ?? req.socket;
  if (sock && !connections.has(sock)) connections.set(sock, nextConnection++);
  let sent = 0;
  const log = (status) =>
    process.stdout.write(`${JSON.stringify({ t, end: Date.now(), path: url.pathname, status, bytes: sent, proto: req.httpVersion, connection: connections.get(sock) ?? 0 })}\n`);
  let file = null;
  if (url.pathname === '/player.html') {
    res.writeHead(200, { 'content-type': TYPES['.html'], 'cache-control': 'no-store' });
    sent = PAGE.length;
    res.end(PAGE);
    return log(200);
  }
  if (url.pathname.startsWith('/media/')) file = inside(o.media, url.pathname.slice('/media'.length));
  let size = null;
  try {
    const st = file && statSync(file);
    if (st && st.isFile()) size = st.size;
  } catch {
    // no such file: 404 below
  }
  if (size === null) {
    res.writeHead(404).end();
    return log(404);
  }
  // media is fetched once per session: no caching in the browser between sessions either
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'content-length': size, 'cache-control': 'no-store', 'access-control-allow-origin': '*' });
  const s = createReadStream(file);
  s.on('data', (d) => (sent += d.length));
  s.on('error', () => res.destroy());
  res.on('close', () => log(200));
  s.pipe(res);
}

const server = http2.createSecureServer({ key: readFileSync(o.key), cert: readFileSync(o.cert), allowHTTP1: true }, handler);
server.listen(o.port, o.host, () => process.stdout.write(`${JSON.stringify({ listening: o.port })}\n`));
process.on('SIGTERM', () => process.exit(0));
