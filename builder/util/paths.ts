import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * The fwbuild checkout holds the sources it builds (bpf/, runner/, targets/, docker/): resolve
 * them from this module's location so the CLI works from any working directory.
 */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const projectPath = (...parts: string[]): string => path.join(projectRoot, ...parts);

/** `ath79/generic` -> `ath79-generic`: the form used for folder names. */
export const targetSlug = (name: string): string => name.replace(/\//g, '-');
