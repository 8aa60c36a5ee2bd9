import Docker from 'dockerode';
import { BuildError } from '../errors.js';

export interface EngineOptions {
  socketPath?: string;
}

const fixHint =
  'install and start it: `apt-get install -y docker.io && (dockerd >/var/log/dockerd.log 2>&1 &)`, ' +
  'or `systemctl start docker` where systemd runs';

/** Connects to the Docker engine and proves it answers, or fails with how to fix it. */
export async function connectEngine(options: EngineOptions = {}): Promise<Docker> {
  const docker = new Docker(options.socketPath ? { socketPath: options.socketPath } : {});
  try {
    await docker.ping();
  } catch (e) {
    const where = options.socketPath ?? process.env.DOCKER_HOST ?? '/var/run/docker.sock';
    throw new BuildError(`Docker engine not reachable at ${where}: ${(e as Error).message}`, fixHint);
  }
  return docker;
}

export async function imageId(docker: Docker, ref: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(ref).inspect()).Id;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined;
    throw e;
  }
}

export interface ProgressEvent {
  stream?: string;
  status?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/**
 * Follows a build/import JSON stream. docker-modem's followProgress treats an `error` event as
 * success, so the check is done here.
 */
export function followProgress(
  stream: NodeJS.ReadableStream,
  onEvent: (e: ProgressEvent) => void,
): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const events: ProgressEvent[] = [];
    let failed: string | undefined;
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let ev: ProgressEvent;
        try {
          ev = JSON.parse(line) as ProgressEvent;
        } catch {
          ev = { stream: line };
        }
        events.push(ev);
        if (ev.error) failed ??= ev.errorDetail?.message ?? ev.error;
        onEvent(ev);
      }
    });
    stream.on('error', reject);
    stream.on('end', () => (failed ? reject(new Error(failed)) : resolve(events)));
  });
}
