import Docker from 'dockerode';
import { RUN_LABEL } from '../../builder/docker/step-container.js';
import { followProgress, imageId } from '../../builder/docker/engine.js';
import { packTree } from '../../builder/util/archive.js';

export const docker = new Docker();

/** Containers a run left behind, in any state. */
export async function containersOf(runId: string, extraLabels: string[] = []): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${runId}`, ...extraLabels] } });
}

/** Removes the images of one namespace (toolchain images first: they sit on the base image). */
export async function removeImages(namespace: string): Promise<string[]> {
  const all = await docker.listImages({ all: true });
  const byId = new Map(all.map((i) => [i.Id, i]));
  const ours = new Set(all.filter((i) => (i.RepoTags ?? []).some((t) => t.startsWith(`${namespace}/`))).map((i) => i.Id));
  const ancestors = (i: Docker.ImageInfo): string[] => {
    const chain: string[] = [];
    for (let p = i.ParentId; p && byId.has(p); p = byId.get(p)!.ParentId) chain.push(p);
    return chain;
  };
  const untagged = (i: Docker.ImageInfo): boolean => (i.RepoTags ?? []).every((t) => t === '<none>:<none>');
  // ours, and the untagged images built on them (the first stages of a multi-stage build keep the
  // base image "in use"); the deepest first, so a parent goes after its children
  const doomed = all
    .filter((i) => ours.has(i.Id) || (untagged(i) && ancestors(i).some((a) => ours.has(a))))
    .sort((a, b) => ancestors(b).length - ancestors(a).length);
  for (const i of doomed) {
    // removing a tagged image also removes its untagged parents: those are gone already
    await docker
      .getImage(i.Id)
      .remove({ force: true })
      .catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 404) throw e;
      });
  }
  return [...ours].flatMap((id) => byId.get(id)!.RepoTags ?? []);
}

/** Runs a shell script in a throwaway container of `image` with `binds`, no network; resolves with its output or fails with it. */
export async function inContainer(image: string, script: string, binds: string[]): Promise<string> {
  const c = await docker.createContainer({ Image: image, Cmd: ['sh', '-c', script], HostConfig: { Binds: binds, NetworkMode: 'none' }, NetworkDisabled: true });
  try {
    await c.start();
    const { StatusCode } = (await c.wait()) as { StatusCode: number };
    const out = demuxLogs((await c.logs({ stdout: true, stderr: true })) as Buffer);
    if (StatusCode !== 0) throw new Error(`exit ${StatusCode}:\n${out}`);
    return out;
  } finally {
    await c.remove({ force: true });
  }
}

/** A container's log as text: the engine's multiplexed stream has an 8-byte header per chunk. */
export function demuxLogs(raw: Buffer): string {
  const parts: Buffer[] = [];
  for (let o = 0; o + 8 <= raw.length; o += 8 + raw.readUInt32BE(o + 4)) parts.push(raw.subarray(o + 8, o + 8 + raw.readUInt32BE(o + 4)));
  return Buffer.concat(parts).toString('utf8');
}

/** Builds `ref` from the folder `context` (its Dockerfile) with build args; the log's tail on failure. */
export async function buildImageFrom(ref: string, context: string, buildargs: Record<string, string>): Promise<string> {
  let log = '';
  const stream = await docker.buildImage(packTree(context, 0), { t: ref, buildargs, rm: true, forcerm: true });
  await followProgress(stream, (ev) => (log += ev.stream ?? ev.status ?? '')).catch((e: Error) => {
    throw new Error(`building ${ref} failed: ${e.message}\n${log.slice(-4000)}`);
  });
  const id = await imageId(docker, ref);
  if (!id) throw new Error(`${ref} was built but is missing`);
  return id;
}
