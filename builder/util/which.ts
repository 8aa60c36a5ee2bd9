import { access, constants } from 'node:fs/promises';
import path from 'node:path';

/** The first executable called `cmd` on PATH, or undefined. */
export async function which(cmd: string, envPath = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of envPath.split(path.delimiter).filter(Boolean)) {
    const p = path.join(dir, cmd);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}
