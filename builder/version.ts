import { readFileSync } from 'node:fs';
import { projectPath } from './util/paths.js';

/** fwbuild's own version: part of every cache key and manifest. */
export const fwbuildVersion: string = (
  JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }
).version;
