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
}

export const ROUTER_CONF = path.join('etc', 'fwbuild', 'router.conf');

function cidr(v: string, key: string, file: string): { address: string; prefix: number } {
  const m = /^([0-9a-fA-F.:]+)\/(\d+)$/.exec(v);
  if (!m) throw new BuildError(`${file}: ${key}="${v}" is not ADDRESS/PREFIX`);
  return { address: m[1]!, prefix: Number(m[2]) };
}

const peerV4 = (a: string): string => a.replace(/\.\d+$/, '.2');
const peerV6 = (a: string): string => a.replace(/::[0-9a-fA-F]*$/, '::2');

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
    return { mac: get('MAC').toLowerCase(), ipv4, ipv6, peer: { ipv4: peerV4(ipv4.address), ipv6: peerV6(ipv6.address) } };
  };
  return { lan: port('LAN'), wan: port('WAN') };
}
