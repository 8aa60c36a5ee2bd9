import { readFile } from 'node:fs/promises';
import { referenceModel } from '../../builder/vrouter/reference-model.js';

/** The reference predictions, one JSON line per feature line, as the runner prints them. */
export async function referencePredictions(modelFile: string, featureLines: string): Promise<string> {
  const predict = referenceModel(await readFile(modelFile, 'utf8'));
  return featureLines
    .trim()
    .split('\n')
    .map((l) => `${JSON.stringify(predict(JSON.parse(l)))}\n`)
    .join('');
}
