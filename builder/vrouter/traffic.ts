import { spawn } from 'node:child_process';
import { BuildError } from '../errors.js';
import { projectPath } from '../util/paths.js';

export const TRAFFIC_SCRIPT = projectPath('builder', 'vrouter', 'traffic.mjs');

/** The words that run a command on one CPU only (taskset, util-linux), or none. */
export const onCpu = (cpu: number | undefined): string[] => (cpu === undefined ? [] : ['taskset', '-c', String(cpu)]);

/**
 * Runs a traffic.mjs mode inside a network namespace; resolves with its JSON lines once it
 * exits. `onFirstLine` fires when it announced itself (a server is listening). Killed on abort
 * or after `timeoutMs`. `cpu` runs it on that CPU only (taskset).
 */
export function traffic(
  ns: string,
  args: string[],
  o: { onFirstLine?: () => void; signal?: AbortSignal; timeoutMs?: number; script?: string; cpu?: number } = {},
): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...onCpu(o.cpu), process.execPath, o.script ?? TRAFFIC_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let announced = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!announced && out.includes('\n')) {
        announced = true;
        o.onFirstLine?.();
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const kill = (): void => void child.kill('SIGKILL');
    const timer = setTimeout(kill, o.timeoutMs ?? 60_000);
    o.signal?.addEventListener('abort', kill, { once: true });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', kill);
      if (code !== 0) return reject(new BuildError(`traffic ${args.join(' ')} in ${ns} ${sig ? `was killed (${sig})` : `exited ${code}`}: ${err.trim()}`));
      resolve(out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
    });
  });
}

/**
 * Starts a listening traffic mode (a server, a receiver), runs `fn` once it listens, and returns
 * both results. The listener never outlives the call: it is killed if `fn` fails.
 */
export async function withListener<T>(
  ns: string,
  args: string[],
  fn: () => Promise<T>,
  o: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<{ listener: Record<string, unknown>[]; result: T }> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  o.signal?.addEventListener('abort', stop, { once: true });
  let listening!: () => void;
  const up = new Promise<void>((r) => (listening = r));
  const proc = traffic(ns, args, { onFirstLine: () => listening(), signal: ac.signal, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) });
  try {
    await Promise.race([up, proc]);
    const result = await fn();
    return { listener: await proc, result };
  } catch (e) {
    stop();
    await proc.catch(() => undefined);
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', stop);
  }
}
