import { InterruptedError } from '../builder/errors.js';

/**
 * An AbortSignal that SIGINT and SIGTERM abort, as the CLI's: a bench passes it to testRouter,
 * which then stops its QEMU and containers instead of leaving them to run on after node exits.
 */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) return;
    process.stderr.write(`\n${sig} received: stopping the virtual router…\n`);
    controller.abort(new InterruptedError(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}
