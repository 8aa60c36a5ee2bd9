import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { check } from '../util/schema.js';
import { nearest } from '../util/suggest.js';
import { projectPath, targetSlug } from '../util/paths.js';
import { providerNames, providerOf } from '../provider.js';
import { targetSchemas, type ProviderName, type Target } from './target.js';

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
    // the row's provider first: its schema is the one that says what else the row needs
    const providerIssues = check(data, { provider: { kind: 'enum', values: providerNames } }).filter((i) => i.key === 'provider' || i.key === '(root)');
    const provider = (data as { provider: ProviderName }).provider;
    const issues = providerIssues.length > 0 ? providerIssues : check(data, targetSchemas[provider]);
    if (issues.length > 0) {
      const first = issues[0]!;
      const whose = first.message === 'is required' && first.key !== 'provider' ? ` for the ${provider} provider` : '';
      throw new UsageError(`target file ${where}: key "${first.key}" ${first.message}${whose}`);
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

/** Facts that single files cannot check alone: the data must agree with itself, and with its provider's rules. */
function checkConsistency(t: Target, all: readonly Target[]): void {
  const problems: string[] = [];
  const expectedBpf = t.cpu.endian === 'big' ? 'bpfeb' : 'bpfel';
  if (t.bpf !== expectedBpf) problems.push(`key "bpf" is "${t.bpf}" but cpu.endian is ${t.cpu.endian}; expected "${expectedBpf}"`);
  problems.push(...providerOf(t).check(t, all));
  if (problems.length > 0) throw new UsageError(`target file targets/${targetSlug(t.name)}.json: ${problems[0]}`);
}
