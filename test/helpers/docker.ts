import Docker from 'dockerode';
import { RUN_LABEL } from '../../builder/docker/step-container.js';

export const docker = new Docker();

/** Containers a run left behind, in any state. */
export async function containersOf(runId: string, extraLabels: string[] = []): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${runId}`, ...extraLabels] } });
}

/** Removes fwbuild's images so the next build starts from nothing. */
export async function removeFwbuildImages(): Promise<string[]> {
  const images = await docker.listImages();
  const ours = images.filter((i) => (i.RepoTags ?? []).some((t) => t.startsWith('fwbuild/')));
  // Toolchain images first: they are children of the base image.
  ours.sort((a, b) => Number((b.RepoTags ?? []).some((t) => t.startsWith('fwbuild/toolchain'))) - Number((a.RepoTags ?? []).some((t) => t.startsWith('fwbuild/toolchain'))));
  for (const i of ours) await docker.getImage(i.Id).remove({ force: true });
  return ours.flatMap((i) => i.RepoTags ?? []);
}
