/**
 * Tar archives written header by header, for entries no tar tool would write: a regular file
 * with a link name, an empty name, `sdk/./x`, device nodes. ustar format, as GNU tar reads it.
 */
export interface RawEntry {
  name: string;
  /** ustar typeflag: '0' file, '1' hard link, '2' symlink, '3' char device, '5' folder, '6' FIFO */
  type: '0' | '1' | '2' | '3' | '5' | '6';
  linkname?: string;
  data?: Buffer;
  mode?: number;
  dev?: [number, number];
}

const octal = (n: number, width: number): string => n.toString(8).padStart(width - 1, '0') + '\0';

export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const h = Buffer.alloc(512);
    const data = e.data ?? Buffer.alloc(0);
    h.write(e.name, 0, 100, 'utf8');
    h.write(octal(e.mode ?? (e.type === '5' ? 0o755 : 0o644), 8), 100, 'ascii');
    h.write(octal(0, 8), 108, 'ascii');
    h.write(octal(0, 8), 116, 'ascii');
    h.write(octal(e.type === '0' ? data.length : 0, 12), 124, 'ascii');
    h.write(octal(1700000000, 12), 136, 'ascii');
    h.write(' '.repeat(8), 148, 'ascii');
    h.write(e.type, 156, 'ascii');
    h.write(e.linkname ?? '', 157, 100, 'utf8');
    h.write('ustar\0', 257, 'ascii');
    h.write('00', 263, 'ascii');
    h.write(octal(e.dev?.[0] ?? 0, 8), 329, 'ascii');
    h.write(octal(e.dev?.[1] ?? 0, 8), 337, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    blocks.push(h);
    if (e.type === '0' && data.length) blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
