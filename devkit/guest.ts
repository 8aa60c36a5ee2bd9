import type { RouterLab } from '../builder/index.js';

/**
 * Runs a command in a virtual router's shell (the serial console); its output lines, or an
 * error naming the command and its status. The console drops lines that start with "{" (the
 * runner's own JSON lines share it): print JSON results behind a prefix.
 */
export async function guest(lab: RouterLab, cmd: string, timeoutMs = 600_000): Promise<string[]> {
  const r = await lab.router.run(cmd, timeoutMs, lab.signal);
  if (r.status !== 0) throw new Error(`guest: "${cmd}" exited ${r.status}: ${r.output.join(' | ')}`);
  return r.output;
}

/** The JSON object that starts with `{"key"` in those lines. */
export const jsonLine = <T>(lines: string[], key: string): T => {
  const l = lines.find((x) => x.includes(`{"${key}"`));
  if (!l) throw new Error(`no {"${key}"...} line in: ${lines.join(' | ')}`);
  return JSON.parse(l.slice(l.indexOf('{'))) as T;
};
