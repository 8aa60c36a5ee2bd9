import type Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import { BuildError, InterruptedError } from '../errors.js';
import type { StepLog } from '../util/steplog.js';

export interface Mount {
  host: string;
  container: string;
  readOnly: boolean;
}

export interface StepSpec {
  /** Step name; labels the container and names the log. */
  step: string;
  /** Target slug or `toolchain`; labels the container. */
  scope: string;
  image: string;
  cmd: string[];
  mounts: Mount[];
  env?: Record<string, string>;
  workdir?: string;
  /** The host's network, for ImageBuilder's package downloads only; every other step has none. */
  network?: boolean;
}

/** The uid:gid build containers run as: never root. Root callers get the image's `build` user. */
export const BUILD_UID = 10001;
export function containerUser(): string {
  const uid = process.getuid?.() ?? BUILD_UID;
  return uid === 0 ? `${BUILD_UID}:${BUILD_UID}` : `${uid}:${process.getgid?.() ?? uid}`;
}

export const RUN_LABEL = 'fwbuild.run';

/**
 * Runs one build step in a fresh container and removes it whatever happens: success, failure,
 * or an abort (Ctrl-C). Compile steps get no network, a read-only view of the sources and a
 * writable output folder, as an unprivileged user with no capabilities.
 */
export class StepContainer {
  constructor(
    private readonly docker: Docker,
    private readonly runId: string,
    private readonly signal: AbortSignal,
  ) {}

  async run(spec: StepSpec, log: StepLog, onLine: (line: string) => void = () => {}): Promise<void> {
    if (this.signal.aborted) throw new InterruptedError('SIGINT');
    const container = await this.docker.createContainer({
      Image: spec.image,
      Cmd: spec.cmd,
      User: containerUser(),
      WorkingDir: spec.workdir ?? '/tmp',
      Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
      Labels: { [RUN_LABEL]: this.runId, 'fwbuild.step': spec.step, 'fwbuild.scope': spec.scope },
      NetworkDisabled: !spec.network,
      HostConfig: {
        // host, not a bridge: a mirror on the build machine's localhost is reachable too
        NetworkMode: spec.network ? 'host' : 'none',
        Binds: spec.mounts.map((m) => `${m.host}:${m.container}:${m.readOnly ? 'ro' : 'rw'}`),
        // a kernel tree and its objects need room; tmpfs only takes what is used
        Tmpfs: { '/tmp': 'rw,exec,size=6g' },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Privileged: false,
      },
    });
    const remove = (): Promise<void> =>
      container.remove({ force: true }).then(
        () => undefined,
        () => undefined, // already gone (404) or being removed (409)
      );
    let aborted = false;
    const onAbort = (): void => {
      aborted = true;
      void remove();
    };
    this.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const stream = await container.attach({ stream: true, stdout: true, stderr: true });
      const out = new PassThrough();
      this.docker.modem.demuxStream(stream, out, out);
      let partial = '';
      out.on('data', (chunk: Buffer) => {
        log.write(chunk);
        partial += chunk.toString('utf8');
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) if (l.trim()) onLine(l);
      });
      await container.start();
      const result = (await container.wait()) as { StatusCode: number };
      if (aborted || this.signal.aborted) throw new InterruptedError('SIGINT');
      if (result.StatusCode !== 0) {
        const tail = await log.tail();
        throw new BuildError(
          `step ${spec.scope}/${spec.step} failed (exit ${result.StatusCode}); last lines:\n${tail}\nfull log: ${log.file}`,
          undefined,
          log.file,
        );
      }
    } catch (e) {
      if (aborted || this.signal.aborted) throw new InterruptedError('SIGINT');
      throw e;
    } finally {
      this.signal.removeEventListener('abort', onAbort);
      await remove();
      await log.close();
    }
  }
}

/** Removes every container a run left, whatever state it is in: the last line of defence. */
export async function reapRun(docker: Docker, runId: string): Promise<number> {
  const left = await docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${runId}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  return left.length;
}
