import vm from 'node:vm';

/**
 * The model under Node.js's own engine: what every runner build must answer, bit for bit, for
 * the same features and flow. Results go through JSON, as the runner's own output does. A model
 * may keep state per flow, so calls must come in the runner's order.
 */
export function referenceModel(source: string): (features: unknown, flow?: unknown) => unknown {
  const ctx = vm.createContext({});
  vm.runInContext(source, ctx);
  const predict = vm.runInContext('predict', ctx) as (f: unknown, flow?: unknown) => unknown;
  return (features, flow) => JSON.parse(JSON.stringify(predict(features, flow))) as unknown;
}
