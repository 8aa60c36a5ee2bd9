import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { check } from '../util/schema.js';
import { nearest } from '../util/suggest.js';
import { projectPath, targetSlug } from '../util/paths.js';
import { targetSchema, type Target } from './target.js';

export class Catalog {
  private readonly byName: Map<string, Target>;

  constructor(readonly targets: readonly Target[]) {
    this.byName = new Map(targets.map((t) => [t.name, t]));
  }

  names(): string[] {
    return this.targets.map((t) => t.name);
  }

  /**
   * Exact name, or a bare OpenWrt target (`ath79`) standing for its only subtarget or for
   * `<target>/generic`, as OpenWrt users write it.
   */
  resolve(name: string): Target {
    const exact = this.byName.get(name);
    if (exact) return exact;
    if (!name.includes('/')) {
      const subs = this.targets.filter((t) => t.name.startsWith(`${name}/`));
      const pick = subs.length === 1 ? subs[0] : subs.find((t) => t.name === `${name}/generic`);
      if (pick) return pick;
    }
    // Compare with bare OpenWrt target names too, so "ath97" finds "ath79/generic".
    const aliases = new Map(this.names().flatMap((n) => [[n, n] as const, [n.split('/')[0]!, n] as const]));
    const close = [...new Set(nearest(name, [...aliases.keys()]).map((a) => aliases.get(a)!))];
    throw new UsageError(
      `unknown target "${name}"${close.length ? ` (did you mean ${close.map((c) => `"${c}"`).join(' or ')}?)` : ''}; ` +
        `accepted: ${this.names().join(', ')}`,
      'run `fwbuild targets` to list the catalog',
    );
  }
}

/** Reads every `targets/*.json`, validates each file and the catalog as a whole. */
export async function loadCatalog(dir = projectPath('targets')): Promise<Catalog> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  const targets: Target[] = [];
  for (const file of files) {
    const where = path.join(path.basename(dir), file);
    let data: unknown;
    try {
      data = JSON.parse(await readFile(path.join(dir, file), 'utf8'));
    } catch (e) {
      throw new UsageError(`target file ${where}: not valid JSON: ${(e as Error).message}`);
    }
    const issues = check(data, targetSchema);
    if (issues.length > 0) {
      const first = issues[0]!;
      throw new UsageError(`target file ${where}: key "${first.key}" ${first.message}`);
    }
    const target = data as Target;
    if (`${targetSlug(target.name)}.json` !== file) {
      throw new UsageError(`target file ${where}: name "${target.name}" must live in ${targetSlug(target.name)}.json`);
    }
    targets.push(target);
  }
  if (targets.length === 0) throw new UsageError(`no target files (*.json) in ${dir}`);
  for (const t of targets) checkConsistency(t, targets);
  return new Catalog(targets);
}

/** Facts that single files cannot check alone: the data must agree with itself. */
function checkConsistency(t: Target, all: readonly Target[]): void {
  const fail = (msg: string): never => {
    throw new UsageError(`target file targets/${targetSlug(t.name)}.json: ${msg}`);
  };
  const expectedBpf = t.cpu.endian === 'big' ? 'bpfeb' : 'bpfel';
  if (t.bpf !== expectedBpf) fail(`key "bpf" is "${t.bpf}" but cpu.endian is ${t.cpu.endian}; expected "${expectedBpf}"`);
  if (t.provider === 'openwrt' && !t.openwrt) fail('key "openwrt" is required for the openwrt provider');
  if (t.provider === 'debian') {
    if (!t.gcc.debian) fail('key "gcc.debian" is required for the debian provider');
    if (!t.qemu) fail('key "qemu" is required for the debian provider');
    if (!t.profiles?.length) fail('key "profiles" must list at least one board for the debian provider');
    if (!t.qemu?.memory) fail('key "qemu.memory" (MiB) is required for the debian provider');
    if (!t.kernel || !t.userland) fail('keys "kernel" and "userland" are required for the debian provider (the virtual router image)');
  }
  if (t.userland?.busybox === 'debian' && !t.userland.debianArch) fail('a Debian busybox needs "userland.debianArch"');
  if (t.kernel?.source === 'build') {
    if (!t.kernel.config || !t.kernel.arch || !t.kernel.image) fail('a kernel built from source needs "kernel.config", "kernel.arch" and "kernel.image"');
    else if (!existsSync(projectPath('targets', 'kernels', `${t.kernel.config}.config`))) {
      fail(`key "kernel.config" names targets/kernels/${t.kernel.config}.config, which does not exist`);
    }
  }
  if (t.kernel?.source === 'debian' && !t.kernel.debianArch) fail('a Debian kernel needs "kernel.debianArch"');
  if (t.twin) {
    const twin = all.find((o) => o.name === t.twin);
    if (!twin) fail(`key "twin" names unknown target "${t.twin}"`);
    else if (twin.provider !== 'debian') fail(`key "twin": "${t.twin}" is not a debian (QEMU) target`);
    else if (twin.cpu.family !== t.cpu.family || twin.cpu.endian !== t.cpu.endian) {
      fail(
        `key "twin": "${t.twin}" is ${twin.cpu.family} ${twin.cpu.endian}-endian but this target is ` +
          `${t.cpu.family} ${t.cpu.endian}-endian; a twin must run the same CPU family and byte order`,
      );
    }
  }
}
