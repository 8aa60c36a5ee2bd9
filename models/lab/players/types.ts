/**
 * The lab's players behind one small interface: start a session given the manifest URL, and
 * return the ground truth. A new player is one adapter file beside this one, listed in index.ts.
 */

/** What a session asks of a player. */
export interface PlaySpec {
  /** the client's network namespace: the player runs inside it */
  netns: string;
  /** https://host:port of the media server */
  origin: string;
  /** the manifest's path on the server (DASH or HLS, as the adapter's `manifest` says) */
  manifest: string;
  /** HTTP/2 (one multiplexed connection) or HTTP/1.1 (parallel connections) */
  transport: 'h2' | 'http1.1';
  seconds: number;
  seed: number;
  /** the CA's SPKI hash, for the browser to trust the lab's server */
  caSpki: string;
}

/**
 * The ground truth of one session, from the player's own side (ms are Unix time): the frame
 * heights actually rendered and when they changed, stalls (waiting until playing), startup
 * (from navigation to the first `playing`), and what the player's own API said it chose.
 */
export interface GroundTruth {
  player: string;
  startMs: number;
  endMs: number;
  startupS: number | null;
  /** every change of the rendered frame height, and the first frame */
  rendered: { ms: number; height: number }[];
  /** waiting -> playing (or the session's end) */
  stalls: { fromMs: number; toMs: number }[];
  /** the player API's own quality reports: what it requested or switched to, which may lead the picture */
  own: { ms: number; height: number; what: string }[];
  /** playback position against the wall clock, every second: a slowed playback without `waiting` shows here */
  clock: { ms: number; currentTime: number }[];
}

export interface PlayerAdapter {
  name: string;
  /** which manifest of the media set it plays */
  manifest: 'dash' | 'hls';
  play(spec: PlaySpec): Promise<GroundTruth>;
}
