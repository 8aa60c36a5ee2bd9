import type { PlayerLog } from '../answers.js';

/**
 * The lab's players behind one small interface: start a session given the manifest URL, and
 * return the ground truth. A new player is one adapter file beside this one, listed in index.ts.
 */

/** A viewer's pause (for forS seconds) or forward seek (by forS seconds of media), atS after the start. */
export interface ViewerAction {
  kind: 'pause' | 'seek';
  atS: number;
  forS: number;
}

/** What a session asks of a player. */
export interface PlaySpec {
  /** the client's network namespace: the player runs inside it */
  netns: string;
  /** host:port of the server the adapter's `server` names */
  server: string;
  /** the manifest's path on the media server (DASH or HLS, as the adapter's `manifest` says); '' for the synthetic server */
  manifest: string;
  /** HTTP/2 (one multiplexed connection) or HTTP/1.1 (parallel connections) */
  transport: 'h2' | 'http1.1';
  seconds: number;
  segS: number;
  seed: number;
  /** background traffic beside the video, for a player that makes it (`background: true`) */
  background: 'none' | 'web' | 'bulk';
  /** what the viewer does once, for a player that can be told (`actions: true`): pause for forS, or seek forS ahead */
  action?: ViewerAction;
  /** the CA's SPKI hash, for a browser to trust the lab's HTTPS server */
  caSpki?: string;
  /** aborted when the session ends or the lab stops: the player stops and leaves nothing running */
  signal: AbortSignal;
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
  /** waiting -> playing (or the session's end), outside a pause or a seek */
  stalls: { fromMs: number; toMs: number }[];
  /** the viewer's pause or seek -> playing (or the session's end): not played, and not a stall */
  held: { fromMs: number; toMs: number }[];
  /** the player API's own quality reports: what it requested or switched to, which may lead the picture */
  own: { ms: number; height: number; what: string }[];
  /** playback position against the wall clock, every second: a slowed playback without `waiting` shows here */
  clock: { ms: number; currentTime: number }[];
}

/** What a player returns: the log labelling reads, and a real player's own record of the session. */
export interface PlayResult {
  log: PlayerLog;
  truth?: GroundTruth;
}

export interface PlayerAdapter {
  name: string;
  /** the server it plays from: the synthetic segments over HTTP/1.1 (video-server.mjs) or the encoded media over HTTPS (media-server.mjs) */
  server: 'synthetic' | 'media';
  /** which manifest of the media set it plays (a media-server player) */
  manifest?: 'dash' | 'hls';
  /** it makes the session's background traffic itself */
  background?: boolean;
  /** it carries out a viewer's pause or seek (PlaySpec.action) */
  actions?: boolean;
  play(spec: PlaySpec): Promise<PlayResult>;
}
