import type Docker from 'dockerode';
import { Parser, type ReadEntry } from 'tar';
import { BuildError } from '../errors.js';

/**
 * Reads one regular file out of an image without running anything in it: a container is
 * created (never started), the file is fetched as a tar stream, and the container removed.
 */
export async function readImageFile(docker: Docker, image: string, file: string): Promise<Buffer> {
  const c = await docker.createContainer({ Image: image, Cmd: ['true'], Labels: { 'fwbuild.scope': 'read-file' } });
  try {
    const stream = (await c.getArchive({ path: file })) as NodeJS.ReadableStream;
    return await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let found = false;
      const parser = new Parser({
        onReadEntry: (entry: ReadEntry) => {
          if (entry.type !== 'File' || found) return entry.resume();
          found = true;
          entry.on('data', (d: Buffer) => chunks.push(d));
        },
      });
      parser.on('end', () => (found ? resolve(Buffer.concat(chunks)) : reject(new BuildError(`${image} has no regular file ${file}`))));
      parser.on('error', reject);
      stream.on('error', reject);
      stream.pipe(parser);
    });
  } catch (e) {
    if (e instanceof BuildError) throw e;
    throw new BuildError(`cannot read ${file} from image ${image}: ${(e as Error).message}`);
  } finally {
    await c.remove({ force: true }).catch(() => undefined);
  }
}
