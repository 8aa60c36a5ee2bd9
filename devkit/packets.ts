/**
 * Frames for BPF_PROG_TEST_RUN, built byte by byte so each test says exactly what the parser
 * sees. Checksums are left zero: the programs never check them.
 */
export const ETH_IPV4 = 0x0800;
export const ETH_IPV6 = 0x86dd;
export const ETH_ARP = 0x0806;
export const ETH_8021Q = 0x8100;
export const ETH_8021AD = 0x88a8;
export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;

export const FIN = 0x01;
export const SYN = 0x02;
export const PSH = 0x08;
export const ACK = 0x10;

export function eth(ethertype: number, vlans: number[] = []): Buffer {
  const b = Buffer.alloc(14 + vlans.length * 4);
  Buffer.from('020000000002020000000001', 'hex').copy(b, 0);
  let off = 12;
  vlans.forEach((vid, i) => {
    b.writeUInt16BE(i === 0 && vlans.length > 1 ? ETH_8021AD : ETH_8021Q, off);
    b.writeUInt16BE(vid, off + 2);
    off += 4;
  });
  b.writeUInt16BE(ethertype, off);
  return b;
}

const ip4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));

export function ipv4(src: string, dst: string, proto: number, l4: Buffer, o: { fragOffset8?: number; moreFragments?: boolean; ihlWords?: number } = {}): Buffer {
  const ihl = o.ihlWords ?? 5;
  const h = Buffer.alloc(ihl * 4);
  h[0] = 0x40 | ihl;
  h.writeUInt16BE(h.length + l4.length, 2);
  h.writeUInt16BE((o.moreFragments ? 0x2000 : 0) | (o.fragOffset8 ?? 0), 6);
  h[8] = 64;
  h[9] = proto;
  ip4(src).copy(h, 12);
  ip4(dst).copy(h, 16);
  return Buffer.concat([h, l4]);
}

function ip6(s: string): Buffer {
  const [head, tail] = s.split('::') as [string, string | undefined];
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  const groups = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

/** `ext`: extension headers as [type, body] with body already padded to its length rule. */
export function ipv6(src: string, dst: string, proto: number, l4: Buffer, ext: [number, Buffer][] = []): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  const chain: Buffer[] = [];
  let next = proto;
  for (let i = ext.length - 1; i >= 0; i--) {
    const [type, body] = ext[i]!;
    const e = Buffer.from(body);
    e[0] = next;
    chain.unshift(e);
    next = type;
  }
  const payload = Buffer.concat([...chain, l4]);
  h.writeUInt16BE(payload.length, 4);
  h[6] = next;
  h[7] = 64;
  ip6(src).copy(h, 8);
  ip6(dst).copy(h, 24);
  return Buffer.concat([h, payload]);
}

/** Hop-by-hop / destination options of `8 * (1 + len8)` bytes (PadN inside). */
export function ext6opts(len8 = 0): Buffer {
  const b = Buffer.alloc(8 * (1 + len8));
  b[1] = len8;
  b[2] = 1; // PadN
  b[3] = b.length - 4;
  return b;
}

export function ext6frag(offset8: number, more: boolean, id = 0x1234): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16BE((offset8 << 3) | (more ? 1 : 0), 2);
  b.writeUInt32BE(id, 4);
  return b;
}

export function tcp(sport: number, dport: number, o: { seq?: number; ack?: number; flags?: number; payload?: number; dataOffsetWords?: number } = {}): Buffer {
  const doff = o.dataOffsetWords ?? 5;
  const h = Buffer.alloc(Math.max(20, doff * 4) + (o.payload ?? 0));
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE((o.seq ?? 1000) >>> 0, 4);
  h.writeUInt32BE((o.ack ?? 0) >>> 0, 8);
  h[12] = doff << 4;
  h[13] = o.flags ?? ACK;
  h.writeUInt16BE(65535, 14);
  h.fill(0x61, Math.max(20, doff * 4));
  return h;
}

export function udp(sport: number, dport: number, payload = 0): Buffer {
  const h = Buffer.alloc(8 + payload);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload, 4);
  h.fill(0x62, 8);
  return h;
}

export function frame(ethertype: number, l3: Buffer, vlans: number[] = []): Buffer {
  return Buffer.concat([eth(ethertype, vlans), l3]);
}

/** xorshift32: the same "random" packets on every run. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}
