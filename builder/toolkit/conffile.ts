/**
 * The runner's conffile for a choice of inference other than the default: the overlay's
 * /etc/config/fwrunner with its object and model options pointed at what the image carries,
 * written by a host step as one more overlay layer. Both providers lay it over the target's
 * overlays (the virtual router's initramfs, the ImageBuilder's FILES), so the rewrite exists once.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaults } from '../config/config.js';
import { runnerOptions, TOOLKIT_PATHS, type Inference } from '../config/inference.js';
import { BuildError } from '../errors.js';
import { sha256 } from '../util/hash.js';
import type { CompileStep } from './steps.js';

/** This module: the step's output depends on it, as a container step's on its command line. */
const codeHash = sha256(readFileSync(fileURLToPath(import.meta.url)));

/** Where the step's layer is, under its output folder. */
export const CONFFILE_LAYER = 'overlay';

/**
 * The conffile's text with `option object` and `option model` set for the choice. A conffile
 * without either line would leave the runner on its defaults (the default's object, which this
 * image does not carry): an error naming the line.
 */
export function runnerConffile(text: string, inference: Inference, where: string): string {
  const set = (t: string, key: string, value: string): string => {
    const line = new RegExp(`^(\\s*option ${key} )'[^']*'$`, 'm');
    if (!line.test(t)) throw new BuildError(`${where} has no "option ${key}" line to point at the toolkit`);
    return t.replace(line, `$1'${value}'`);
  };
  const o = runnerOptions(inference);
  return set(set(text, 'object', o.object), 'model', o.model);
}

/**
 * The host step that writes the layer; none for the default, whose paths the overlay already
 * names (so the default's images keep the steps, and cache keys, they had).
 */
export function conffileSteps(inference: Inference): CompileStep[] {
  if (inference === defaults.inference) return [];
  return [
    {
      name: 'conffile',
      title: `runner settings for inference "${inference}"`,
      cmd: ['fwbuild-host', 'conffile', codeHash, inference],
      outputs: { dir: CONFFILE_LAYER, kind: 'overlay' },
      reads: ['overlays'],
      // published over the overlay in dist/<target>/overlay, which then shows what the image carries
      host: async (io) => {
        // the last layer that has the file wins, as when the layers are copied in order
        let text: string | undefined;
        let where = '';
        for (const layer of io.overlays) {
          const f = path.join(layer, TOOLKIT_PATHS.uci);
          const t = await readFile(f, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
          if (t !== undefined) [text, where] = [t, `overlays/${path.basename(layer)}/${TOOLKIT_PATHS.uci}`];
        }
        if (text === undefined) {
          throw new BuildError(`no overlay layer (${io.overlays.map((l) => path.basename(l)).join(', ')}) has ${TOOLKIT_PATHS.uci}: the runner would not know the object and model of inference "${inference}"`);
        }
        const out = path.join(io.out, CONFFILE_LAYER, TOOLKIT_PATHS.uci);
        await mkdir(path.dirname(out), { recursive: true });
        await writeFile(out, runnerConffile(text, inference, where));
      },
    },
  ];
}
