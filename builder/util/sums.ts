import { BuildError } from '../errors.js';

/**
 * A file name a checksum list may carry: a relative path of plain segments. It reaches URLs and
 * lock entries, so `..`, `.`, empty segments, absolute paths, backslashes and control
 * characters are refused, even in a signed list.
 */
const SAFE_NAME = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9_+.,=~@-]+(?:\/[A-Za-z0-9_+.,=~@-]+)*$/;

/** `<hex> *<file>` lines, as OpenWrt's sha256sums (and fwbuild's own) are written: file -> hex. */
export function parseSums(text: string, from = 'sha256sums'): Map<string, string> {
  const sums = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(raw.trim());
    if (!m) continue;
    if (!SAFE_NAME.test(m[2]!)) throw new BuildError(`${from} names the file ${JSON.stringify(m[2]).slice(0, 120)}, which is not a plain relative path`);
    sums.set(m[2]!, m[1]!);
  }
  return sums;
}
