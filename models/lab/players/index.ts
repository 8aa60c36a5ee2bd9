/** The real players the lab can run, by name (--players); `scripted` is the lab's own player.mjs. */
import dashjs from './dashjs.js';
import shaka from './shaka.js';
import type { PlayerAdapter } from './types.js';

export const PLAYERS: Record<string, PlayerAdapter> = Object.fromEntries([dashjs, shaka].map((p) => [p.name, p]));
export const PLAYER_NAMES = ['scripted', ...Object.keys(PLAYERS)];
