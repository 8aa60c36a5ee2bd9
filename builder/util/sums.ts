/** `<hex> *<file>` lines, as OpenWrt's sha256sums (and fwbuild's own) are written: file -> hex. */
export const parseSums = (text: string): Map<string, string> =>
  new Map(
    text
      .split('\n')
      .map((l) => /^([0-9a-f]{64}) [ *](.+)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[2]!, m[1]!]),
  );
