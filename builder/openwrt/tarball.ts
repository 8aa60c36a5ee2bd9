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
 * What an OpenWrt tarball may expand to. The largest 24.10/25.12 SDKs unpack to about 1.5 GB
 * and ImageBuilders to under 1 GB; the cap is a generous multiple of that, and bounds what a
 * tiny archive that expands without end (a "zip bomb") can cost before it is refused.
 */
export const MAX_EXPANDED_BYTES = 8 * 1024 ** 3;

/**
 * Reads every entry header of an SDK or ImageBuilder tarball before anything is extracted, and
 * refuses the archive if extracting it could write outside its folder or make anything but
 * files, folders and links: an absolute path, a `..` component, an empty name, a path that
 * goes through a symlink the archive made (however it is spelled: `sdk/./link/x`,
 * `sdk//link/x`), a relative symlink or a hard link that points out of the top folder, a hard
 * link through a symlink, a regular file that carries a link name, or a device node or FIFO.
 * Absolute symlinks are kept: they point into the image's own filesystem, and extraction
 * never follows them. Paths are normalised before any comparison. GNU tar, which extracts
 * the archive in the image build, runs unprivileged and its result is checked for entries of
 * any other type (docker/openwrt/Dockerfile), so a header the two readers read differently
 * cannot make a device node either.
 */
export async function checkTarball(file: string, name = path.basename(file), maxExpanded = MAX_EXPANDED_BYTES): Promise<TarballCheck> {
  // the download folder names files by their sha256: the format comes from the published name
  const [cmd, args] = decompressor(file, name);
  const refused: string[] = [];
  const links = new Set<string>();
  let top: string | undefined;
  let entries = 0;
  const bad = (p: string, why: string): void => {
    if (refused.length < 5) refused.push(`${p === '' || /[\x00-\x1f]/.test(p) ? JSON.stringify(p) : p} (${why})`);
  };
  /** true when a proper prefix of the normalised path is a symlink the archive made */
  const throughLink = (parts: string[]): boolean => parts.some((_, i) => i > 0 && links.has(parts.slice(0, i).join('/')));
  const within = (resolved: string, topDir: string): boolean => resolved === topDir || resolved.startsWith(`${topDir}/`);
  const parser = new Parser({
    // node-tar skips a header it finds invalid (a file with a link name, an empty name, a bad
    // checksum) with a warning; GNU tar may still extract it: any warning refuses the archive
    onwarn: (code: string, message: string | Error) => bad(`entry ${entries + 1}`, `${code}: ${typeof message === 'string' ? message : message.message}`),
    onReadEntry: (e: ReadEntry) => {
      entries++;
      e.resume();
      const raw = e.path;
      const p = path.posix.normalize(raw).replace(/\/+$/, '');
      const parts = p.split('/');
      const first = parts[0]!;
      top ??= first;
      const target = e.linkpath ?? '';
      if (raw === '' || p === '.' || p === '') return bad(raw, 'empty name');
      if (path.posix.isAbsolute(raw)) return bad(raw, 'absolute path');
      if (raw.split('/').includes('..')) return bad(raw, '".." in the path');
      if (first !== top) return bad(raw, `outside the top folder ${top}/`);
      if (throughLink(parts)) return bad(raw, 'inside a symlink');
      if (['File', 'OldFile', 'ContiguousFile', 'Directory'].includes(e.type)) {
        if (target) bad(raw, `a ${e.type === 'Directory' ? 'folder' : 'file'} with a link name (${target})`);
        return;
      }
      if (e.type === 'SymbolicLink') {
        const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(p), target));
        if (!target) bad(raw, 'symlink without a target');
        else if (!path.posix.isAbsolute(target) && !within(resolved, top)) bad(raw, `symlink to ${target}, outside the archive`);
        links.add(p);
        return;
      }
      if (e.type === 'Link') {
        const resolved = path.posix.normalize(target);
        if (!target || path.posix.isAbsolute(target) || !within(resolved, top)) bad(raw, `hard link to ${target}`);
        else if (throughLink(resolved.split('/')) || links.has(resolved)) bad(raw, `hard link to ${target}, through a symlink`);
        return;
      }
      bad(raw, e.type);
    },
  });
  const parsed = new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', (e: Error) => reject(new BuildError(`${name} is not a readable tar archive: ${e.message}`)));
  });
  let expanded = 0;
  let tooBig = false;
  const exited = new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new BuildError(`cannot run ${cmd} to read ${name}: ${e.message}`, `apt-get install -y ${cmd === 'xz' ? 'xz-utils' : 'zstd'}`)));
    child.stdout.on('data', (d: Buffer) => {
      expanded += d.length;
      if (expanded > maxExpanded && !tooBig) {
        tooBig = true;
        child.kill('SIGKILL');
      }
    });
    child.stdout.pipe(parser);
    child.on('close', (code) => {
      if (tooBig) reject(new BuildError(`refusing ${name}: it expands to more than ${maxExpanded} bytes, far more than an OpenWrt SDK or ImageBuilder holds`));
      else if (code === 0) resolve();
      else reject(new BuildError(`${name}: ${cmd} failed (exit ${code}): ${err.trim()}`));
    });
  });
  await Promise.all([exited, parsed.catch((e: Error) => (tooBig ? undefined : Promise.reject(e)))]);
  if (refused.length > 0) {
    throw new BuildError(`refusing ${name}: extracting it could write outside its folder: ${refused.join(', ')}`);
  }
  if (!top || entries === 0) throw new BuildError(`${name} is empty`);
  return { top, entries };
}
