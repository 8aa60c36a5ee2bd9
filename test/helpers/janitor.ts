/**
 * Started detached by shared-build.ts: waits for ava's process to exit, then removes the run's
 * folder and, for a cold run, its image namespace. Usage: janitor.ts PID FOLDER [NAMESPACE]
 */
import { rm } from 'node:fs/promises';
import { removeImages } from './docker.js';

const [pid, folder, namespace] = process.argv.slice(2);
if (!pid || !folder) throw new Error('usage: janitor.ts PID FOLDER [NAMESPACE]');
const alive = (): boolean => {
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch {
    return false;
  }
};
while (alive()) await new Promise((r) => setTimeout(r, 2000));
await rm(folder, { recursive: true, force: true });
console.log(`${new Date().toISOString()} removed ${folder}`);
if (namespace) console.log(`removed images: ${(await removeImages(namespace)).join(' ') || '(none)'}`);
// nothing went wrong: the log (beside the folder) goes too
await rm(`${folder}.janitor.log`, { force: true });
