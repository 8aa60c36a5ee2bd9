import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';

/** The virtual router's ports as the image's /etc/fwbuild/router.conf defines them. */
export interface RouterPorts {
  lan: Port;
  wan: Port;
}

export interface Port {
  mac: string;
  /** the router's own address and prefix length */
  ipv4: { address: string; prefix: number };
  ipv6: { address: string; prefix: number };
  /** host address 2 of the subnet: where fwbuild test puts the LAN client or WAN server */
  peer: { ipv4: string; ipv6: string };
  /** the subnets, as routes name them (192.168.1.0/24) */
  subnet: { ipv4: string; ipv6: string };
}

export const ROUTER_CONF = path.join('etc', 'fwbuild', 'router.conf');

function cidr(v: string, key: string, file: string): { address: string; prefix: number } {
  const m = /^([0-9a-fA-F.:]+)\/(\d+)$/.exec(v);
  if (!m) throw new BuildError(`${file}: ${key}="${v}" is not ADDRESS/PREFIX`);
  return { address: m[1]!, prefix: Number(m[2]) };
}

/** 128 bits of an IPv6 address as 8 groups, `::` expanded. */
const v6Groups = (a: string): number[] => {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  return [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g, 16));
};
const v6Text = (g: number[]): string => g.map((x) => x.toString(16)).join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
const v4Num = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const v4Text = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/** Host number `host` of the subnet of `a/prefix`, and the subnet itself. */
function inSubnet4(a: string, prefix: number, host: number): { addr: string; net: string } {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (v4Num(a) & mask) >>> 0;
  return { addr: v4Text((net + host) >>> 0), net: `${v4Text(net)}/${prefix}` };
}
function inSubnet6(a: string, prefix: number, host: number): { addr: string; net: string } {
  const g = v6Groups(a).map((x, i) => {
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    return bits === 16 ? x : bits === 0 ? 0 : x & ((0xffff << (16 - bits)) & 0xffff);
  });
  const withHost = [...g.slice(0, 7), g[7]! + host];
  return { addr: v6Text(withHost), net: `${v6Text(g)}/${prefix}` };
}

/** Parses the KEY=VALUE shell file (the same one rcS sources). */
export async function readRouterConf(overlayDir: string): Promise<RouterPorts> {
  const file = path.join(overlayDir, ROUTER_CONF);
  const text = await readFile(file, 'utf8').catch(() => {
    throw new BuildError(`${file} is missing: the image has no router port configuration`);
  });
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(\S+)$/.exec(line.trim());
    if (m) vars.set(m[1]!, m[2]!);
  }
  const port = (p: 'LAN' | 'WAN'): Port => {
    const get = (k: string): string => {
      const v = vars.get(`${p}_${k}`);
      if (!v) throw new BuildError(`${file}: ${p}_${k} is not set`);
      return v;
    };
    const ipv4 = cidr(get('IPV4'), `${p}_IPV4`, file);
    const ipv6 = cidr(get('IPV6'), `${p}_IPV6`, file);
    const [p4, p6] = [inSubnet4(ipv4.address, ipv4.prefix, 2), inSubnet6(ipv6.address, ipv6.prefix, 2)];
    return { mac: get('MAC').toLowerCase(), ipv4, ipv6, peer: { ipv4: p4.addr, ipv6: p6.addr }, subnet: { ipv4: p4.net, ipv6: p6.net } };
  };
  return { lan: port('LAN'), wan: port('WAN') };
}
