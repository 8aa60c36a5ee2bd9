import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { projectPath } from '../../builder/util/paths.js';

/**
 * The layers of builder/ (docs/architecture.md), lowest first. A module may import at run time
 * only from its own layer or a lower one; type-only imports are free (they are erased). The
 * longest matching prefix decides a file's layer.
 */
const LAYERS: [prefix: string, layer: number][] = [
  ['util/', 0],
  ['errors.ts', 0],
  ['version.ts', 0],
  ['catalog/target.ts', 1],
  ['config/', 1],
  ['lock/lockfile.ts', 1],
  ['sources/', 1],
  ['docker/', 2],
  ['lock/', 2],
  ['toolkit/', 3],
  ['doctor-check.ts', 3],
  ['debian/', 4],
  ['openwrt/', 4],
  ['provider.ts', 4],
  // the catalog asks each row's provider for its rules
  ['catalog/load.ts', 5],
  ['pipeline/', 6],
  ['vrouter/', 7],
  ['doctor.ts', 7],
  ['index.ts', 8],
  ['cli.ts', 9],
];

const layerOf = (rel: string): number => {
  const hit = LAYERS.filter(([prefix]) => rel.startsWith(prefix)).sort((a, b) => b[0].length - a[0].length)[0];
  if (!hit) throw new Error(`builder/${rel} is in no layer: add its folder to LAYERS and docs/architecture.md`);
  return hit[1];
};

async function* sources(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

/** Relative imports that exist at run time: `import type` and `export type` are left out. */
function runtimeImports(code: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'(\.[^']+)'/gms)) if (!m[2]) out.push(m[3]!);
  return out;
}

test('the import scanner tells run-time imports from type-only ones', (t) => {
  t.deepEqual(
    runtimeImports(["import type { A } from './a.js';", "import { b, type C } from '../b.js';", "export { d } from './d.js';", "export type { E } from './e.js';"].join('\n')),
    ['../b.js', './d.js'],
  );
});

test('builder/ imports only downwards: nothing below the pipeline imports it, providers never import the virtual-router test', async (t) => {
  const root = projectPath('builder');
  const crossings: string[] = [];
  let files = 0;
  for await (const file of sources(root)) {
    files++;
    const rel = path.relative(root, file);
    for (const spec of runtimeImports(await readFile(file, 'utf8'))) {
      const target = path.relative(root, path.resolve(path.dirname(file), spec)).replace(/\.js$/, '.ts');
      if (target.startsWith('..')) crossings.push(`${rel} imports ${spec}, outside builder/`);
      else if (layerOf(target) > layerOf(rel)) crossings.push(`${rel} (layer ${layerOf(rel)}) imports ${target} (layer ${layerOf(target)})`);
    }
  }
  t.true(files > 40, `read ${files} files`);
  t.deepEqual(crossings, []);
});

test('bench/, models/ and devkit/ use the library or the dev kit, never test/', async (t) => {
  const offenders: string[] = [];
  for (const dir of ['bench', 'models', 'devkit']) {
    for await (const file of sources(projectPath(dir))) {
      for (const m of (await readFile(file, 'utf8')).matchAll(/from\s+'([^']+)'/g)) {
        if (/(^|\/)test\//.test(m[1]!)) offenders.push(`${path.relative(projectPath(), file)} imports ${m[1]}`);
      }
    }
  }
  t.deepEqual(offenders, []);
});
