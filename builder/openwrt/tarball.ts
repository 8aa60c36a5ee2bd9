import { spawn } from 'node:child_process';
import path from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { BuildError } from '../errors.js';

export interface TarballCheck {
  /** the single top folder every entry lives in (OpenWrt's tarballs have one) */
  top: string;
  entries: number;
}

/** The decompressor for an OpenWrt tarball: Debian's zstd or xz, streaming (Node has neither). */
function decompressor(file: string, name: string): [string, string[]] {
  if (name.endsWith('.tar.zst')) return ['zstd', ['-dc', '--', file]];
  if (name.endsWith('.tar.xz')) return ['xz', ['-dc', '--', file]];
  throw new BuildError(`${name}: expected a .tar.zst or .tar.xz OpenWrt tarball`);
}

/**
 * Reads every entry header of an SDK or ImageBuilder tarball before anything is extracted, and
 * refuses the archive if extracting it could write outside its folder: an absolute path, a `..`
 * component, a path that goes through a symlink the archive made, a relative symlink or a
 * hard link that points above the top folder, or a device node. Absolute symlinks are kept:
 * they point into the image's own filesystem, and extraction never follows them.
 */
export async function checkTarball(file: string, name = path.basename(file)): Promise<TarballCheck> {
  // the download folder names files by their sha256: the format comes from the published name
  const [cmd, args] = decompressor(file, name);
  const refused: string[] = [];
  const links = new Set<string>();
  let top: string | undefined;
  let entries = 0;
  const bad = (p: string, why: string): void => {
    if (refused.length < 5) refused.push(`${p} (${why})`);
  };
  const parser = new Parser({
    onReadEntry: (e: ReadEntry) => {
      entries++;
      const p = e.path.replace(/\/+$/, '');
      const parts = p.split('/');
      if (path.posix.isAbsolute(e.path)) bad(e.path, 'absolute path');
      else if (parts.includes('..')) bad(e.path, '".." in the path');
      else if (parts.some((_, i) => i > 0 && links.has(parts.slice(0, i).join('/')))) bad(e.path, 'inside a symlink');
      else if (!['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link'].includes(e.type)) bad(e.path, e.type);
      else if (e.type === 'SymbolicLink' || e.type === 'Link') {
        const target = e.linkpath ?? '';
        const base = e.type === 'SymbolicLink' ? path.posix.dirname(p) : '';
        const resolved = path.posix.normalize(path.posix.join(base, target));
        if (e.type === 'Link' && (path.posix.isAbsolute(target) || resolved.startsWith('..'))) bad(e.path, `hard link to ${target}`);
        if (e.type === 'SymbolicLink' && !path.posix.isAbsolute(target) && (resolved === '..' || resolved.startsWith('../') || !resolved.startsWith(`${parts[0]}`))) {
          bad(e.path, `symlink to ${target}, outside the archive`);
        }
        if (e.type === 'SymbolicLink') links.add(p);
      }
      const first = parts[0]!;
      if (top === undefined) top = first;
      else if (first !== top && !refused.length) bad(e.path, `outside the top folder ${top}/`);
      e.resume();
    },
  });
  const parsed = new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', (e: Error) => reject(new BuildError(`${name} is not a readable tar archive: ${e.message}`)));
  });
  const exited = new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new BuildError(`cannot run ${cmd} to read ${name}: ${e.message}`, `apt-get install -y ${cmd === 'xz' ? 'xz-utils' : 'zstd'}`)));
    child.stdout.pipe(parser);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new BuildError(`${name}: ${cmd} failed (exit ${code}): ${err.trim()}`))));
  });
  await Promise.all([exited, parsed]);
  if (refused.length > 0) {
    throw new BuildError(`refusing ${name}: extracting it could write outside its folder: ${refused.join(', ')}`);
  }
  if (!top || entries === 0) throw new BuildError(`${name} is empty`);
  return { top, entries };
}
