import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { projectPath } from '../builder/util/paths.js';
import { inNs, Netns, sh } from '../builder/vrouter/netns.js';
import { onCpu, traffic } from '../builder/vrouter/traffic.js';

export { inNs, sh };

/**
 * The CPU every sender of the host-kernel tests runs on. fw_flows counts a flow's direction
 * without atomics (the ARM32 JIT has none), exact while one CPU at a time handles that
 * direction, as a router's receive queue does. Local sockets over veth break that: an ACK sent
 * by a process on one CPU and one sent from softirq on another reach the hook at once, and an
 * increment is lost (1 packet in about 4,500, in 1 run of 12 of bpf-traffic's test unpinned).
 */
export const TRAFFIC_CPU = 0;

export interface LinkStats {
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  txPackets: number;
  txBytes: number;
  /** veth counts a frame its peer's backlog refused here, not in txPackets (after TC saw it) */
  txDropped: number;
}

/** A device's counters, as `ip -s link` reads them. */
export async function linkStats(ns: string, dev: string): Promise<LinkStats> {
  type Dir = { packets: number; bytes: number; dropped: number };
  const [l] = JSON.parse(await inNs(ns, 'ip', ['-s', '-j', 'link', 'show', 'dev', dev])) as { stats64: { rx: Dir; tx: Dir } }[];
  const { rx, tx } = l!.stats64;
  return { rxPackets: rx.packets, rxBytes: rx.bytes, rxDropped: rx.dropped, txPackets: tx.packets, txBytes: tx.bytes, txDropped: tx.dropped };
}

/**
 * Two network namespaces joined by a veth pair, quiet by construction (no link-local
 * addresses, no DAD, no ARP, static neighbours, offloads off) so that the only packets on the
 * wire are the ones a test sends. Addresses live only inside these namespaces.
 */
export class VethPair {
  readonly id = randomBytes(3).toString('hex');
  readonly client = `fwc-${this.id}`;
  readonly server = `fws-${this.id}`;
  readonly clientIf = `vc${this.id}`;
  readonly serverIf = `vs${this.id}`;
  readonly clientV4 = '10.213.0.2';
  readonly serverV4 = '10.213.0.1';
  readonly clientV6 = 'fd00:213::2';
  readonly serverV6 = 'fd00:213::1';

  /** the two namespaces, once made: fwbuild's Netns, as the virtual routers use */
  private spaces: Netns[] = [];

  async up(): Promise<void> {
    this.spaces.push(await Netns.create(this.client), await Netns.create(this.server));
    await sh('ip', ['link', 'add', this.clientIf, 'netns', this.client, 'type', 'veth', 'peer', 'name', this.serverIf, 'netns', this.server]);
    const side = async (ns: string, dev: string, v4: string, v6: string, peerV4: string, peerV6: string, peerMac: string) => {
      await inNs(ns, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.accept_ra=0`, `net.ipv6.conf.${dev}.router_solicitations=0`]);
      await inNs(ns, 'ip', ['link', 'set', 'dev', dev, 'addrgenmode', 'none']);
      await inNs(ns, 'ethtool', ['-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      // IFF_NOARP also keeps IPv6 from joining the address's solicited-node group: otherwise
      // the kernel sends an MLD report when the address is added and repeats it up to a second
      // later, a packet no test sent (one once landed between a TC attach and a counter read).
      // The permanent neighbours below still give each side its peer's MAC.
      await inNs(ns, 'ip', ['link', 'set', 'dev', dev, 'arp', 'off']);
      await inNs(ns, 'ip', ['link', 'set', 'dev', dev, 'up']);
      await inNs(ns, 'ip', ['addr', 'add', `${v4}/24`, 'dev', dev]);
      await inNs(ns, 'ip', ['-6', 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
      await inNs(ns, 'ip', ['neigh', 'replace', peerV4, 'lladdr', peerMac, 'dev', dev, 'nud', 'permanent']);
      await inNs(ns, 'ip', ['-6', 'neigh', 'replace', peerV6, 'lladdr', peerMac, 'dev', dev, 'nud', 'permanent']);
    };
    const mac = async (ns: string, dev: string) =>
      (JSON.parse(await inNs(ns, 'ip', ['-j', 'link', 'show', 'dev', dev])) as { address: string }[])[0]!.address;
    const cMac = await mac(this.client, this.clientIf);
    const sMac = await mac(this.server, this.serverIf);
    await side(this.client, this.clientIf, this.clientV4, this.clientV6, this.serverV4, this.serverV6, sMac);
    await side(this.server, this.serverIf, this.serverV4, this.serverV6, this.clientV4, this.clientV6, cMac);
  }

  stats(ns: string, dev: string): Promise<LinkStats> {
    return linkStats(ns, dev);
  }

  /** Deleting the namespaces removes the veth pair, addresses and any TC filters with them. */
  async down(): Promise<void> {
    for (const ns of this.spaces.splice(0)) await ns.remove();
  }
}

/**
 * Two namespaces joined by tun devices, an L3 link like pppoe-wan or a WireGuard WAN: packets
 * start at the IP header, with no Ethernet header and no neighbour discovery. A small relay
 * (tun-wire.py) is the wire between the two. Same fields as VethPair, for the same traffic.
 */
export class TunPair {
  readonly id = randomBytes(3).toString('hex');
  readonly client = `ftc-${this.id}`;
  readonly server = `fts-${this.id}`;
  readonly clientIf = `tc${this.id}`;
  readonly serverIf = `ts${this.id}`;
  readonly clientV4 = '10.214.0.2';
  readonly serverV4 = '10.214.0.1';
  readonly clientV6 = 'fd00:214::2';
  readonly serverV6 = 'fd00:214::1';
  private wire: ChildProcess | undefined;

  private spaces: Netns[] = [];

  async up(): Promise<void> {
    this.spaces.push(await Netns.create(this.client), await Netns.create(this.server));
    // the relay writes every packet into the kernel: on TRAFFIC_CPU too (see there)
    const [cmd, ...args] = [...onCpu(TRAFFIC_CPU), 'python3', projectPath('devkit', 'tun-wire.py'), this.clientIf, this.serverIf];
    const wire = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.wire = wire;
    await new Promise<void>((resolve, reject) => {
      wire.stdout!.once('data', () => resolve());
      wire.once('exit', (code) => reject(new Error(`tun-wire.py exited ${code} before its devices were up`)));
    });
    const side = async (ns: string, dev: string, v4: string, v6: string, peerV4: string, peerV6: string) => {
      await sh('ip', ['link', 'set', dev, 'netns', ns]);
      await inNs(ns, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.accept_ra=0`, `net.ipv6.conf.${dev}.router_solicitations=0`]);
      await inNs(ns, 'ip', ['link', 'set', 'dev', dev, 'addrgenmode', 'none']);
      await inNs(ns, 'ip', ['link', 'set', 'dev', dev, 'up']);
      await inNs(ns, 'ip', ['addr', 'add', v4, 'peer', peerV4, 'dev', dev]);
      await inNs(ns, 'ip', ['-6', 'addr', 'add', v6, 'peer', peerV6, 'dev', dev, 'nodad']);
    };
    await side(this.client, this.clientIf, this.clientV4, this.clientV6, this.serverV4, this.serverV6);
    await side(this.server, this.serverIf, this.serverV4, this.serverV6, this.clientV4, this.clientV6);
  }

  stats(ns: string, dev: string): Promise<LinkStats> {
    return linkStats(ns, dev);
  }

  /** The namespaces go with their devices; closing the relay's stdin ends it. */
  async down(): Promise<void> {
    for (const ns of this.spaces.splice(0)) await ns.remove();
    if (this.wire && this.wire.exitCode === null) {
      const gone = new Promise((r) => this.wire!.once('exit', r));
      this.wire.stdin!.end();
      await gone;
    }
  }
}

/** Runs a traffic mode of builder/vrouter/traffic.mjs in a namespace, on TRAFFIC_CPU. */
export const trafficIn = (ns: string, args: string[], onFirstLine?: () => void): Promise<Record<string, unknown>[]> =>
  traffic(ns, args, { cpu: TRAFFIC_CPU, ...(onFirstLine ? { onFirstLine } : {}) });
