import vm from 'node:vm';

/**
 * The model under Node.js's own engine: what every runner build must answer, bit for bit, for
 * the same features. Results go through JSON, as the runner's own output does.
 */
export function referenceModel(source: string): (features: unknown) => unknown {
  const ctx = vm.createContext({});
  vm.runInContext(source, ctx);
  const predict = vm.runInContext('predict', ctx) as (f: unknown) => unknown;
  return (features) => JSON.parse(JSON.stringify(predict(features))) as unknown;
}
