import { randomBytes } from 'node:crypto';
import { inNs, sh } from '../../builder/lab/netns.js';
import { traffic } from '../../builder/lab/traffic.js';

export { inNs, sh };

export interface LinkStats {
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  txPackets: number;
  txBytes: number;
  /** veth counts a frame its peer's backlog refused here, not in txPackets (after TC saw it) */
  txDropped: number;
}

/**
 * Two network namespaces joined by a veth pair, quiet by construction (no link-local
 * addresses, no DAD, static neighbours, offloads off) so that the only packets on the wire are
 * the ones a test sends. Addresses live only inside these namespaces.
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

  async up(): Promise<void> {
    await sh('ip', ['netns', 'add', this.client]);
    await sh('ip', ['netns', 'add', this.server]);
    await sh('ip', ['link', 'add', this.clientIf, 'netns', this.client, 'type', 'veth', 'peer', 'name', this.serverIf, 'netns', this.server]);
    const side = async (ns: string, dev: string, v4: string, v6: string, peerV4: string, peerV6: string, peerMac: string) => {
      await inNs(ns, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.accept_ra=0`, `net.ipv6.conf.${dev}.router_solicitations=0`]);
      await inNs(ns, 'ip', ['link', 'set', 'dev', dev, 'addrgenmode', 'none']);
      await inNs(ns, 'ethtool', ['-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      await inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
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

  async stats(ns: string, dev: string): Promise<LinkStats> {
    type Dir = { packets: number; bytes: number; dropped: number };
    const [l] = JSON.parse(await inNs(ns, 'ip', ['-s', '-j', 'link', 'show', 'dev', dev])) as { stats64: { rx: Dir; tx: Dir } }[];
    const { rx, tx } = l!.stats64;
    return { rxPackets: rx.packets, rxBytes: rx.bytes, rxDropped: rx.dropped, txPackets: tx.packets, txBytes: tx.bytes, txDropped: tx.dropped };
  }

  /** Deleting the namespaces removes the veth pair, addresses and any TC filters with them. */
  async down(): Promise<void> {
    await sh('ip', ['netns', 'del', this.client]).catch(() => '');
    await sh('ip', ['netns', 'del', this.server]).catch(() => '');
  }
}

/** Runs a traffic mode of builder/lab/traffic.mjs in a namespace (the test's older call shape). */
export const trafficIn = (ns: string, args: string[], onFirstLine?: () => void): Promise<Record<string, unknown>[]> =>
  traffic(ns, args, onFirstLine ? { onFirstLine } : {});
