import Docker from 'dockerode';
import { RUN_LABEL } from '../../builder/docker/step-container.js';

export const docker = new Docker();

/** Containers a run left behind, in any state. */
export async function containersOf(runId: string, extraLabels: string[] = []): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${runId}`, ...extraLabels] } });
}

/** Removes the images of one namespace (toolchain images first: they sit on the base image). */
export async function removeImages(namespace: string): Promise<string[]> {
  const ours = (await docker.listImages()).filter((i) => (i.RepoTags ?? []).some((t) => t.startsWith(`${namespace}/`)));
  // every other image is built on the base image: remove it last
  const isBase = (i: Docker.ImageInfo): number => Number((i.RepoTags ?? []).some((t) => t.startsWith(`${namespace}/base`)));
  ours.sort((a, b) => isBase(a) - isBase(b));
  for (const i of ours) await docker.getImage(i.Id).remove({ force: true });
  return ours.flatMap((i) => i.RepoTags ?? []);
}
