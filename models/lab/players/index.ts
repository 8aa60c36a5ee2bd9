/** The lab's players by name (lab:collect --players): one adapter file each, listed here. */
import dashjs from './dashjs.js';
import hlsjs from './hlsjs.js';
import scripted from './scripted.js';
import shaka from './shaka.js';
import type { PlayerAdapter } from './types.js';

export const PLAYERS: Record<string, PlayerAdapter> = Object.fromEntries([scripted, dashjs, shaka, hlsjs].map((p) => [p.name, p]));
export const PLAYER_NAMES = Object.keys(PLAYERS);
