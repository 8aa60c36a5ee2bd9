/**
 * The lab's own scripted player (player.mjs), against the synthetic segment server over one
 * HTTP/1.1 connection: the player the shipped model is trained on. Its schedule is its ground
 * truth, and it makes the session's background traffic itself.
 */
import { spawn } from 'node:child_process';
import { projectPath } from '../../../builder/util/paths.js';
import type { PlayerLog } from '../answers.js';
import type { PlayerAdapter, PlayResult, PlaySpec } from './types.js';

const scripted: PlayerAdapter = {
  name: 'scripted',
  server: 'synthetic',
  background: true,
  play(spec: PlaySpec): Promise<PlayResult> {
    return new Promise((resolve, reject) => {
      const args = { server: spec.server, seconds: spec.seconds, segS: spec.segS, seed: spec.seed, background: spec.background };
      // the signal kills it when the session ends early or the lab stops
      const child = spawn('ip', ['netns', 'exec', spec.netns, process.execPath, projectPath('models', 'lab', 'player.mjs'), JSON.stringify(args)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        signal: spec.signal,
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', (e) => reject(new Error(`player.mjs: ${e.message}`)));
      child.on('close', (code) => {
        if (code !== 0) return reject(new Error(`player.mjs: exit ${code}: ${err.slice(-800)}`));
        try {
          resolve({ log: JSON.parse(out) as PlayerLog });
        } catch {
          reject(new Error(`player.mjs printed no log: ${out.slice(0, 200)}`));
        }
      });
    });
  },
};

export default scripted;
