import { readFile } from 'node:fs/promises';
import vm from 'node:vm';

/** What a model answers under Node.js's own engine: the reference every runner build must match. */
export async function referencePredictions(modelFile: string, featureLines: string): Promise<string> {
  const ctx = vm.createContext({});
  vm.runInContext(await readFile(modelFile, 'utf8'), ctx);
  const predict = vm.runInContext('predict', ctx) as (f: unknown) => unknown;
  return featureLines
    .trim()
    .split('\n')
    .map((l) => `${JSON.stringify(predict(JSON.parse(l)))}\n`)
    .join('');
}
