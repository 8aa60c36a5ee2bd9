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

/** The window's ns (instructions) from `fwrunner bench-window`'s summary line, and busybox time's peak RSS. */
export async function windowCost(lab: RouterLab, flows: number, model: string): Promise<{ ns: number; peakKb: number | null }> {
  // its flow lines to /dev/null: on the console they would pass for the runner's own
  const out = await guest(lab, `time -v fwrunner bench-window --flows ${flows} --model ${model} --output /dev/null 2>&1 >/dev/null`);
  const ns = /bench window of \d+ flows: .*, (\d+) ns/.exec(out.join('\n'));
  if (!ns) throw new Error(`bench-window ${flows}: no summary line in: ${out.join(' | ')}`);
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(out.join('\n'));
  return { ns: Number(ns[1]), peakKb: kb ? Number(kb[1]) : null };
}
