import { which } from './util/which.js';

/** One line of fwbuild doctor. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
}

/** A program that must be on PATH, and how to install it. */
export async function toolCheck(name: string, cmd: string, fix: string): Promise<Check> {
  const p = await which(cmd);
  return p ? { name, ok: true, detail: p } : { name, ok: false, detail: `${cmd} not found on PATH`, fix };
}
