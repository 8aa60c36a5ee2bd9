/**
 * The flow extractor on the real host kernel: every parser path through BPF_PROG_TEST_RUN with
 * exact map contents, a fuzz run, and LRU eviction. Needs root (BPF) and Docker (to compile).
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { endianness } from 'node:os';
import { projectPath } from '../../builder/util/paths.js';
import { benchProgram, buildBpfTools, buildOtherPrograms, evalRows, runPackets, verifierStats, type BpfTools, type DirStats, type Flow, type MapDump, type TestPacket } from '../../devkit/bpf.js';
import {
  ACK, ETH_ARP, ETH_IPV4, ETH_IPV6, ext6frag, ext6opts, FIN, frame, ICMP, ipv4, ipv6, PSH, rng, SYN, TCP, tcp, UDP, udp,
} from '../../devkit/packets.js';

let tools: BpfTools;
test.before(async () => {
  tools = await buildBpfTools('bpfel');
});
test.after.always(() => rm(tools.dir, { recursive: true, force: true }));

/**
 * The verifier's work is load time on a slow router and headroom under its 1M limit: the
 * parser is written so that its paths merge (fw_flows.bpf.c, EQ/SEL), and this keeps it so.
 * The count is deterministic for an object and a kernel, not a timing.
 */
const VERIFIER_BUDGET = 50_000;
test('every program verifies within the budget of processed instructions', async (t) => {
  const stats = await verifierStats(tools);
  t.deepEqual(Object.keys(stats).sort(), [
    'fw_flush', 'fw_lan_egress', 'fw_lan_egress_ip', 'fw_lan_ingress', 'fw_lan_ingress_ip', 'fw_wan_egress', 'fw_wan_egress_ip', 'fw_wan_ingress', 'fw_wan_ingress_ip',
  ]);
  for (const [prog, n] of Object.entries(stats)) t.true(n > 0 && n < VERIFIER_BUDGET, `${prog}: ${n} processed instructions`);
  t.log(JSON.stringify(stats));
});

test('every program also verifies under the packet alignment rules of MIPS routers (an L3 device\'s IP header 2 bytes off a word)', async (t) => {
  // x86 lets any alignment pass; ath79 and ramips check it (BPF_F_STRICT_ALIGNMENT here). The
  // *_ip programs read 4-byte fields as two 2-byte loads for this (pkt_u32 in fw_flows.bpf.c).
  const stats = await verifierStats(tools, tools.object, { strictAlignment: true });
  t.is(Object.keys(stats).length, 9);
  for (const [prog, n] of Object.entries(stats)) t.true(n > 0 && n < VERIFIER_BUDGET, `${prog}: ${n} processed instructions`);
});

test('another project\'s TC program, written for a kernel tree, builds from its own folder and loads as a private copy (bench:bpf --compare)', async (t) => {
  const source = projectPath('test', 'fixtures', 'other-tc', 'legacy_tc.c');
  const { legacy } = await buildOtherPrograms(tools, [{ name: 'legacy', source }]);
  // "classifier/ingress" maps to no program type in today's libbpf: the harness makes it TC
  const stats = await verifierStats(tools, legacy!);
  t.deepEqual(Object.keys(stats), ['legacy_ingress']);
  t.true(stats.legacy_ingress! > 0);
  const v4 = frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', UDP, udp(5353, 53, 20)));
  const tagged = frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', UDP, udp(5353, 53, 20)), [7]);
  const v6 = frame(ETH_IPV6, ipv6('fd00::20', 'fd00::1', UDP, udp(5353, 53, 20)));
  const words = (b: Buffer): number[] => {
    const p = Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
    return Array.from({ length: p.length / 4 }, (_, i) => (endianness() === 'LE' ? p.readUInt32LE(i * 4) : p.readUInt32BE(i * 4)));
  };
  t.deepEqual(await evalRows(tools, legacy!, 'legacy_ingress', [v4, tagged, v6].map(words)), [0, 1, 2]);
  const run = await benchProgram(tools, legacy!, 'legacy_ingress', [v4, tagged, v6].map((b) => b.toString('hex')), 5);
  t.is(run.runs, 15);
  // its map, pinned by name, was created for this load only: nothing left in the host's bpffs
  t.false(existsSync('/sys/fs/bpf/fw_test_legacy_counts'));
});

const inn = (data: Buffer, extra: Partial<TestPacket> = {}): TestPacket => ({ hook: 'in', data, ...extra });
const eg = (data: Buffer, extra: Partial<TestPacket> = {}): TestPacket => ({ hook: 'eg', data, ...extra });

const zeroHist = [0, 0, 0, 0, 0, 0, 0, 0];
const sizeBin = (n: number): number => [64, 128, 256, 512, 1024, 1280, 1518].findIndex((l) => n <= l) >>> 0 === 4294967295 ? 7 : [64, 128, 256, 512, 1024, 1280, 1518].findIndex((l) => n <= l);

/** The deterministic part of a direction's stats (timestamps and gaps vary run to run). */
function stable(d: DirStats) {
  const { firstNs, lastNs, iatHist, ...rest } = d;
  return { ...rest, iatCount: iatHist.reduce((a, b) => a + b, 0), timesOrdered: firstNs <= lastNs };
}

function hist(sizes: number[]): number[] {
  const h = [...zeroHist];
  for (const s of sizes) h[sizeBin(s)]!++;
  return h;
}

function dir(sizes: number[], payload: number, flags = 0, extra: Partial<DirStats> = {}) {
  return {
    packets: sizes.length,
    bytes: sizes.reduce((a, b) => a + b, 0),
    payloadBytes: payload,
    sizeHist: hist(sizes),
    tcpFlags: flags,
    retrans: 0,
    retransBytes: 0,
    gaps: 0,
    streamBytes: 0,
    ...extra,
    iatCount: Math.max(0, sizes.length - 1),
    timesOrdered: true,
  };
}

const empty = dir([], 0);

function only(d: MapDump): Flow {
  if (d.flows.length !== 1) throw new Error(`expected one flow, got ${JSON.stringify(d.flows)}`);
  return d.flows[0]!;
}

test('IPv4 TCP: both directions land in one canonical record, the LAN client is identified', async (t) => {
  // Client 192.168.1.20:40000 talks to 10.0.0.1:443; ingress on a LAN port is upstream.
  const req = frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', TCP, tcp(40000, 443, { seq: 100, flags: PSH | ACK, payload: 300 })));
  const resp1 = frame(ETH_IPV4, ipv4('10.0.0.1', '192.168.1.20', TCP, tcp(443, 40000, { seq: 5000, flags: ACK, payload: 1400 })));
  const resp2 = frame(ETH_IPV4, ipv4('10.0.0.1', '192.168.1.20', TCP, tcp(443, 40000, { seq: 6400, flags: ACK | PSH, payload: 600 })));
  const d = await runPackets(tools, [inn(req), eg(resp1), eg(resp2)]);
  const f = only(d);
  // 10.0.0.1 sorts below 192.168.1.20, so the server is "a" and the client "b".
  t.like(f, { family: 4, proto: TCP, vlan: 0, a: '10.0.0.1', portA: 443, b: '192.168.1.20', portB: 40000, client: 'b', ifindex: 1 });
  t.deepEqual(stable(f.up), dir([req.length], 300, PSH | ACK, { streamBytes: 300 }));
  t.deepEqual(stable(f.down), dir([resp1.length, resp2.length], 2000, ACK | PSH, { streamBytes: 2000 }));
  t.is(f.segCount, 1);
  t.like(f.segments[0], { upBytes: 300, downBytes: 2000, downPackets: 2 });
  t.deepEqual(f.earlyEndNs, [f.segments[0]!.endNs, 0, 0, 0], 'the first segment ends with its last response packet');
  t.like(d.counters.ingress, { packets: 1, bytes: req.length, ipv4: 1, ipv6: 0, nonIp: 0, truncated: 0, flowsCreated: 1, flowFailed: 0 });
  t.like(d.counters.egress, { packets: 2, bytes: resp1.length + resp2.length, ipv4: 2, flowsCreated: 0 });
});

test('interface roles: on a WAN port egress is upstream', async (t) => {
  const req = frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', TCP, tcp(40000, 443, { payload: 10 })));
  const lan = only(await runPackets(tools, [inn(req)], { role: 'lan' }));
  t.is(lan.up.packets, 1);
  t.is(lan.client, 'b');
  const wan = only(await runPackets(tools, [eg(req)], { role: 'wan' }));
  t.is(wan.up.packets, 1, 'leaving through the WAN port: upstream');
  t.is(wan.client, 'b');
  const wanIn = only(await runPackets(tools, [inn(req)], { role: 'wan' }));
  t.is(wanIn.down.packets, 1, 'arriving on a WAN port: downstream');
  t.is(wanIn.client, 'a', 'so its destination is the client');
});

test('IPv6 TCP and UDP over IPv4 and IPv6', async (t) => {
  const p6 = frame(ETH_IPV6, ipv6('2001:db8::20', '2001:db8:1::1', TCP, tcp(50000, 443, { flags: SYN })));
  const u4 = frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.9', UDP, udp(5353, 53, 40)));
  const u6 = frame(ETH_IPV6, ipv6('2001:db8:1::1', '2001:db8::20', UDP, udp(443, 50001, 1200)));
  const d = await runPackets(tools, [inn(p6), inn(u4), eg(u6)]);
  t.is(d.flows.length, 3);
  const tcp6 = d.flows.find((f) => f.proto === TCP)!;
  t.like(tcp6, { family: 6, a: '2001:db8::20', portA: 50000, b: '2001:db8:1::1', portB: 443, client: 'a' });
  t.deepEqual(stable(tcp6.up), dir([p6.length], 0, SYN));
  const udp4 = d.flows.find((f) => f.proto === UDP && f.family === 4)!;
  t.like(udp4, { a: '10.0.0.9', portA: 53, b: '192.168.1.20', portB: 5353, client: 'b' });
  t.deepEqual(stable(udp4.up), dir([u4.length], 40));
  const udp6 = d.flows.find((f) => f.proto === UDP && f.family === 6)!;
  t.like(udp6, { a: '2001:db8::20', portA: 50001, b: '2001:db8:1::1', portB: 443, client: 'a' });
  t.deepEqual(stable(udp6.down), dir([u6.length], 1200));
  t.deepEqual(stable(udp6.up), empty);
  t.like(d.counters.ingress, { ipv4: 1, ipv6: 1 });
  t.like(d.counters.egress, { ipv6: 1 });
});

test('802.1Q and QinQ frames are parsed and keyed by VLAN id', async (t) => {
  const ip = ipv4('192.168.7.2', '10.0.0.1', UDP, udp(1000, 2000, 20));
  const tagged = frame(ETH_IPV4, ip, [7]);
  const qinq = frame(ETH_IPV4, ip, [100, 7]);
  const plain = frame(ETH_IPV4, ip);
  const d = await runPackets(tools, [inn(tagged), inn(qinq), inn(plain)]);
  // The same 5-tuple on VLAN 7, under QinQ (keyed by its outer service tag 100) and untagged.
  t.deepEqual(d.flows.map((f) => f.vlan).sort((a, b) => a - b), [0, 7, 100]);
  for (const f of d.flows) t.like(f, { a: '10.0.0.1', portA: 2000, b: '192.168.7.2', portB: 1000, client: 'b' });
  t.deepEqual(stable(d.flows.find((f) => f.vlan === 7)!.up), dir([tagged.length], 20));
  t.deepEqual(stable(d.flows.find((f) => f.vlan === 100)!.up), dir([qinq.length], 20));
  t.is(d.flows.find((f) => f.vlan === 0)!.up.bytes, plain.length);
  t.like(d.counters.ingress, { packets: 3, bytes: tagged.length + qinq.length + plain.length, ipv4: 3, truncated: 0 });
});

test('IPv4 fragments: the first keeps its ports, later ones go to a port-less record', async (t) => {
  const first = frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', UDP, udp(4000, 4001, 1472), { moreFragments: true }));
  // A later fragment carries payload bytes only: its first bytes must not be read as ports.
  const later = frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', UDP, Buffer.alloc(600, 0xff), { fragOffset8: 185 }));
  const d = await runPackets(tools, [inn(first), inn(later)]);
  t.is(d.flows.length, 2);
  const withPorts = d.flows.find((f) => f.portA !== 0)!;
  t.like(withPorts, { portA: 4001, portB: 4000, proto: UDP });
  t.is(withPorts.up.payloadBytes, 1472);
  const frag = d.flows.find((f) => f.portA === 0)!;
  t.like(frag, { portA: 0, portB: 0, proto: UDP, a: '10.0.0.1', b: '192.168.1.20' });
  t.deepEqual(stable(frag.up), dir([later.length], 600));
  t.like(d.counters.ingress, { fragments: 1, packets: 2, ipv4: 2, truncated: 0 });
});

test('IPv6 extension headers are walked; a non-first fragment has no ports', async (t) => {
  const HOP = 0;
  const DST = 60;
  const FRAG = 44;
  const l4 = tcp(40000, 443, { payload: 100 });
  const withExt = frame(ETH_IPV6, ipv6('2001:db8::20', '2001:db8:1::1', TCP, l4, [[HOP, ext6opts(0)], [DST, ext6opts(1)]]));
  const firstFrag = frame(ETH_IPV6, ipv6('2001:db8::20', '2001:db8:1::1', UDP, udp(7000, 7001, 64), [[FRAG, ext6frag(0, true)]]));
  const laterFrag = frame(ETH_IPV6, ipv6('2001:db8::20', '2001:db8:1::1', UDP, Buffer.alloc(300, 0xee), [[FRAG, ext6frag(10, false)]]));
  const d = await runPackets(tools, [inn(withExt), inn(firstFrag), inn(laterFrag)]);
  t.is(d.flows.length, 3);
  const t6 = d.flows.find((f) => f.proto === TCP)!;
  t.like(t6, { portA: 40000, portB: 443 });
  t.is(t6.up.payloadBytes, 100, 'payload excludes the 8- and 16-byte option headers');
  t.like(d.flows.find((f) => f.proto === UDP && f.portA !== 0), { portA: 7000, portB: 7001 });
  const frag = d.flows.find((f) => f.portA === 0)!;
  t.like(frag, { proto: UDP, portB: 0 });
  t.is(frag.up.payloadBytes, 300);
  t.like(d.counters.ingress, { fragments: 1, ipv6: 3, truncated: 0 });
});

test('truncated headers, garbage and non-IP frames are counted and never read past the packet', async (t) => {
  const full = ipv4('192.168.1.20', '10.0.0.1', TCP, tcp(1, 2, { payload: 10 }));
  const v6ext = ipv6('2001:db8::20', '2001:db8:1::1', TCP, tcp(1, 2), [[0, ext6opts(3)]]);
  const badIhl = ipv4('1.1.1.1', '2.2.2.2', UDP, udp(1, 2));
  badIhl[0] = 0x44;
  // BPF_PROG_TEST_RUN refuses an untagged IPv4/IPv6 frame whose IP header is cut short (the
  // kernel checks it before the program runs), but such frames do reach TC from a wire. Behind
  // an 802.1Q tag the kernel does not look, so the program's own bounds checks are exercised.
  const cases: [string, Buffer][] = [
    ['ip header cut', frame(ETH_IPV4, full.subarray(0, 12), [3])],
    ['tcp header cut', frame(ETH_IPV4, full.subarray(0, 20 + 10), [3])],
    ['ipv6 header cut', frame(ETH_IPV6, v6ext.subarray(0, 30), [3])],
    ['ipv6 extension header cut', frame(ETH_IPV6, v6ext.subarray(0, 40 + 4), [3])],
    ['ipv6 extension longer than the payload', frame(ETH_IPV6, v6ext.subarray(0, 40 + 16), [3])],
    ['second vlan tag cut', Buffer.from('02000000000202000000000188a8000381', 'hex')],
    ['ipv4 version 5 garbage', frame(ETH_IPV4, Buffer.alloc(20, 0x55))],
    ['ipv4 ihl below 5', frame(ETH_IPV4, badIhl)],
    ['tcp data offset below 5', frame(ETH_IPV4, ipv4('1.1.1.1', '2.2.2.2', TCP, tcp(1, 2, { dataOffsetWords: 3 })))],
    ['ipv4 total length below its header', frame(ETH_IPV4, (() => { const b = Buffer.from(full); b.writeUInt16BE(12, 2); return b; })())],
  ];
  const arp = frame(ETH_ARP, Buffer.alloc(28, 1));
  const tooShort = Buffer.alloc(13, 0xab);
  const d = await runPackets(tools, [...cases.map(([, b]) => inn(b)), inn(arp), inn(tooShort), inn(Buffer.alloc(0))]);
  t.deepEqual(d.flows, [], 'no flow from a bad header');
  const accepted = [...cases.map(([, b]) => b), arp];
  t.regex(d.stderr, new RegExp(`ran ${cases.length + 3} packets, 2 refused`), 'frames under 14 bytes never reach TC');
  t.like(d.counters.ingress, {
    packets: accepted.length,
    bytes: accepted.reduce((a, b) => a + b.length, 0),
    truncated: cases.length,
    nonIp: 1,
    ipv4: 0,
    ipv6: 0,
  });
});

test('lying lengths: an IPv4 header longer than its datagram, an IPv6 payload length past the frame, add nothing they do not carry', async (t) => {
  // 60-byte frame: ihl 15 (60 bytes of header) and total length 60, but 46 bytes of datagram.
  // Behind a VLAN tag, as on a wire: BPF_PROG_TEST_RUN checks untagged IP headers itself.
  const v4 = ipv4('192.168.1.20', '10.0.0.1', UDP, udp(1, 2, 18));
  v4[0] = 0x4f;
  v4.writeUInt16BE(60, 2);
  const liar4 = frame(ETH_IPV4, v4, [9]);
  // IPv6 claiming 60,000 and 65,535 payload bytes in a frame that holds 28 and 30
  const v6a = ipv6('2001:db8::20', '2001:db8:1::1', UDP, udp(5000, 443, 20));
  v6a.writeUInt16BE(60000, 4);
  const v6b = ipv6('2001:db8::20', '2001:db8:1::1', TCP, tcp(40000, 443, { payload: 10 }));
  v6b.writeUInt16BE(65535, 4);
  const liar6a = frame(ETH_IPV6, v6a);
  const liar6b = frame(ETH_IPV6, v6b);
  const d = await runPackets(tools, [inn(liar4), inn(liar6a), inn(liar6b)]);
  t.like(d.counters.ingress, { packets: 3, truncated: 1, ipv6: 2 });
  t.false(d.flows.some((f) => f.family === 4), 'the IPv4 liar makes no flow');
  t.is(d.flows.find((f) => f.proto === UDP)!.up.payloadBytes, 20, 'the frame\'s 20 bytes, not 60,000');
  t.is(d.flows.find((f) => f.proto === TCP)!.up.payloadBytes, 10);
  for (const f of d.flows) t.true(f.up.payloadBytes <= f.up.bytes && f.segments.every((s) => s.upBytes <= f.up.bytes));
});

test('three VLAN tags (802.1ad + two 802.1Q), PPPoE session frames, and a first fragment too short for its ports', async (t) => {
  const ip = ipv4('192.168.7.2', '10.0.0.1', UDP, udp(1000, 2000, 20));
  const three = frame(ETH_IPV4, ip, [100, 7, 8]);
  // PPPoE session: ver/type 0x11, code 0, session id, length, then PPP protocol 0x0021 (IPv4)
  const pppoe = (pppProto: number, l3: Buffer): Buffer => {
    const h = Buffer.alloc(8);
    h[0] = 0x11;
    h.writeUInt16BE(0x1234, 2);
    h.writeUInt16BE(l3.length + 2, 4);
    h.writeUInt16BE(pppProto, 6);
    return frame(0x8864, Buffer.concat([h, l3]));
  };
  const tcp4 = ipv4('192.168.1.20', '10.0.0.1', TCP, tcp(40000, 443, { payload: 100 }));
  const v6 = ipv6('2001:db8::20', '2001:db8:1::1', UDP, udp(5000, 443, 30));
  const lcp = Buffer.alloc(10, 1);
  // a first fragment of 12 bytes: too short for the 20-byte TCP header
  const tiny = ipv4('192.168.1.20', '10.0.0.1', TCP, Buffer.alloc(12, 0x61), { moreFragments: true });
  const rest = ipv4('192.168.1.20', '10.0.0.1', TCP, Buffer.alloc(100, 0x61), { fragOffset8: 2 });
  const d = await runPackets(tools, [inn(three), inn(pppoe(0x0021, tcp4)), inn(pppoe(0x0057, v6)), inn(pppoe(0xc021, lcp)), inn(frame(ETH_IPV4, tiny)), inn(frame(ETH_IPV4, rest))]);
  t.like(d.flows.find((f) => f.vlan === 100), { portA: 2000, portB: 1000, proto: UDP });
  t.like(d.flows.find((f) => f.portB === 40000), { proto: TCP, family: 4 });
  t.is(d.flows.find((f) => f.portB === 40000)!.up.payloadBytes, 100);
  t.like(d.flows.find((f) => f.family === 6), { portA: 5000, portB: 443, proto: UDP });
  const frags = d.flows.filter((f) => f.proto === TCP && f.portA === 0);
  t.is(frags.length, 1, 'both fragments in one port-less flow');
  t.is(frags[0]!.up.packets, 2);
  t.is(frags[0]!.up.payloadBytes, 112);
  t.like(d.counters.ingress, { packets: 6, truncated: 0, nonIp: 1, fragments: 2, ipv4: 4, ipv6: 1 });
});

test('ICMP and other protocols get a port-less flow record', async (t) => {
  const ping = frame(ETH_IPV4, ipv4('192.168.1.20', '8.8.8.8', ICMP, Buffer.alloc(64, 8)));
  const f = only(await runPackets(tools, [inn(ping)]));
  t.like(f, { proto: ICMP, portA: 0, portB: 0, a: '8.8.8.8', b: '192.168.1.20', client: 'b' });
  t.deepEqual(stable(f.up), dir([ping.length], 64));
});

test('GSO super-packets count as gso_segs wire packets with the headers repeated', async (t) => {
  const hdr = 14 + 20 + 20;
  // 3 x 800 keeps the frame under the one page BPF_PROG_TEST_RUN accepts.
  const data = frame(ETH_IPV4, ipv4('10.0.0.1', '192.168.1.20', TCP, tcp(443, 40000, { seq: 1, payload: 3 * 800 })));
  const d = await runPackets(tools, [eg(data, { gsoSegs: 3, gsoSize: 800 })]);
  const f = only(d);
  t.is(f.down.packets, 3);
  t.is(f.down.bytes, data.length + 2 * hdr, 'three frames of headers + 800 bytes each');
  t.is(f.down.payloadBytes, 3 * 800);
  t.deepEqual(f.down.sizeHist, hist([hdr + 800, hdr + 800, hdr + 800]));
  t.like(d.counters.egress, { packets: 3, bytes: 3 * (hdr + 800), ipv4: 3 });
});

test('TCP sequence tracking flags retransmissions and gaps per direction', async (t) => {
  const seg = (seq: number, len: number) => eg(frame(ETH_IPV4, ipv4('10.0.0.1', '192.168.1.20', TCP, tcp(443, 40000, { seq, payload: len }))));
  const wrap = 0xffffff00;
  const f = only(
    await runPackets(tools, [
      seg(1000, 100), // next 1100
      seg(1100, 100), // in order
      seg(1100, 100), // retransmission
      seg(1400, 100), // gap (1200..1400 missing)
      seg(1200, 100), // late: below next_seq -> retrans/reorder hint
      seg(1500, 0), // pure ACK: ignored
    ]),
  );
  t.is(f.down.retrans, 2);
  t.is(f.down.retransBytes, 200);
  t.is(f.down.gaps, 1);
  t.is(f.down.streamBytes, 500, 'the stream 1000..1500, each byte once (the missing 1200..1400 arrived late)');
  t.is(f.up.retrans + f.up.gaps, 0);
  const w = only(await runPackets(tools, [seg(wrap, 0x80), seg(wrap + 0x80, 0x100), seg((wrap + 0x180) >>> 0, 10)]));
  t.is(w.down.retrans + w.down.gaps, 0, 'in order across the 2^32 wrap');
});

test('segments: a request starts one, the response adds to it, the ring keeps the last 8', async (t) => {
  const up = (len: number, seq: number) => inn(frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', TCP, tcp(40000, 443, { seq, payload: len }))));
  const down = (len: number, seq: number) => eg(frame(ETH_IPV4, ipv4('10.0.0.1', '192.168.1.20', TCP, tcp(443, 40000, { seq, payload: len }))));
  const ack = () => inn(frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', TCP, tcp(40000, 443, { payload: 0 }))));
  const pkts: TestPacket[] = [down(50, 1)]; // response bytes before any request: not a segment
  let useq = 1;
  let dseq = 51;
  for (let i = 0; i < 10; i++) {
    pkts.push(up(200, useq), up(100, useq + 200)); // a two-packet request
    useq += 300;
    for (let k = 0; k <= i; k++) {
      pkts.push(down(1000, dseq), ack());
      dseq += 1000;
    }
  }
  const f = only(await runPackets(tools, pkts));
  t.is(f.segCount, 10);
  t.is(f.segments.length, 8);
  t.deepEqual(
    f.segments.map((s) => [s.upBytes, s.downBytes, s.downPackets]),
    [2, 3, 4, 5, 6, 7, 8, 9].map((i) => [300, 1000 * (i + 1), i + 1]),
  );
  for (const s of f.segments) t.true(s.startNs <= s.endNs);
  // the first four segments' ends outlive the ring: 0 and 1 only there, 2 and 3 in both
  t.is(f.earlyEndNs.length, 4);
  t.is(f.earlyEndNs[2], f.segments[0]!.endNs);
  t.is(f.earlyEndNs[3], f.segments[1]!.endNs);
  t.true(0 < f.earlyEndNs[0]! && f.earlyEndNs[0]! <= f.earlyEndNs[1]! && f.earlyEndNs[1]! <= f.segments[0]!.startNs);
  t.is(f.up.payloadBytes, 3000);
  t.is(f.down.payloadBytes, 50 + 1000 * 55);
});

test('segments: a request sent again while its response arrives does not start another', async (t) => {
  const up = (len: number, seq: number) => inn(frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', TCP, tcp(40000, 443, { seq, payload: len }))));
  const down = (len: number, seq: number) => eg(frame(ETH_IPV4, ipv4('10.0.0.1', '192.168.1.20', TCP, tcp(443, 40000, { seq, payload: len }))));
  const f = only(
    await runPackets(tools, [
      up(300, 1), // the request
      down(1000, 1),
      up(300, 1), // the same request again: its ACK was lost on a lossy line
      down(1000, 1001),
      up(300, 301), // the next request
      down(500, 2001),
    ]),
  );
  t.is(f.up.retrans, 1);
  t.is(f.segCount, 2);
  t.deepEqual(
    f.segments.map((s) => [s.upBytes, s.downBytes]),
    [
      [300, 2000],
      [300, 500],
    ],
  );
});

test('a new flow waits in a pending slot: one-packet flows insert nothing, a second packet records the flow with both', async (t) => {
  const flood = Array.from({ length: 500 }, (_, i) => inn(frame(ETH_IPV4, ipv4(`10.1.${i >> 8}.${i & 255}`, '192.168.1.20', UDP, udp(53, 20000 + i, 30)))));
  const syn = frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', TCP, tcp(40000, 443, { flags: SYN })));
  const synAck = frame(ETH_IPV4, ipv4('10.0.0.1', '192.168.1.20', TCP, tcp(443, 40000, { flags: SYN | ACK })));
  // (between the SYN and its answer, a flood could push the SYN out of its slot: see fw_maps.h)
  const pkts = [inn(syn), eg(synAck), ...flood];

  const kept = await runPackets(tools, pkts, { pending: 'keep' });
  const f = only(kept);
  t.like(f, { portA: 443, portB: 40000, client: 'b' });
  t.like(stable(f.up), dir([syn.length], 0, SYN));
  t.like(stable(f.down), dir([synAck.length], 0, SYN | ACK));
  t.true(f.up.firstNs < f.down.firstNs, 'the parked first packet went in first, with its own time');
  t.is(kept.counters.ingress.flowsCreated, 1, 'counted at the hook of its first packet');
  t.is(kept.counters.egress.flowsCreated, 0);
  const displaced = kept.counters.ingress.displaced + kept.counters.egress.displaced;
  t.true(kept.parked > 0 && kept.parked <= 500);
  t.is(kept.parked + displaced, 500, 'each one-packet flow is parked or counted as displaced');

  // The harness's default records the parked flows before the dump (fw_flush), as one-packet flows.
  const flushed = await runPackets(tools, pkts);
  t.is(flushed.flows.length, 1 + kept.parked);
  t.is(flushed.counters.ingress.flowsCreated, 1 + kept.parked);
  t.is(flushed.counters.ingress.displaced, kept.counters.ingress.displaced, 'the same slots collide in every run');
  const inFlows = flushed.flows.reduce((a, x) => a + x.up.packets + x.down.packets, 0);
  t.is(inFlows + displaced, pkts.length);
  for (const x of flushed.flows.filter((x) => x.proto === 17)) t.like(stable(x.up), dir([flood[0]!.data.length], 30));
  t.log(`500 one-packet flows: ${kept.parked} parked, ${displaced} displaced (${2 ** 10} slots per CPU)`);
});

test('a flood of one-packet flows does not push recorded flows out of a full table', async (t) => {
  const pkts: TestPacket[] = [];
  for (let i = 0; i < 50; i++) {
    const p = inn(frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', UDP, udp(10000 + i, 443, 10))));
    pkts.push(p, p);
  }
  for (let i = 0; i < 1000; i++) pkts.push(inn(frame(ETH_IPV4, ipv4(`10.2.${i >> 8}.${i & 255}`, '192.168.1.20', TCP, tcp(443, 40000, { flags: SYN })))));
  const d = await runPackets(tools, pkts, { maxFlows: 64, pending: 'keep' });
  t.is(d.flows.length, 50, 'the 50 two-packet flows, all still there');
  t.true(d.flows.every((f) => f.up.packets === 2 && f.portA === 443));
  t.is(d.counters.ingress.flowsCreated, 50);
  t.is(d.parked + d.counters.ingress.displaced, 1000);
});

test('fuzz: 100,000 random and mutated frames, no failure, totals reconcile', async (t) => {
  const rand = rng(0xf10f);
  const seeds = [
    frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', TCP, tcp(40000, 443, { payload: 40 }))),
    frame(ETH_IPV6, ipv6('2001:db8::20', '2001:db8:1::1', UDP, udp(5000, 443, 30), [[0, ext6opts(0)], [44, ext6frag(0, true)]])),
    frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', UDP, udp(1, 2, 30)), [5, 6]),
    frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', TCP, tcp(1, 2), { ihlWords: 7 })),
  ];
  const N = 100_000;
  function* packets(): Generator<TestPacket> {
    for (let i = 0; i < N; i++) {
      let b: Buffer;
      if (i % 3 === 0) {
        b = Buffer.alloc(Math.floor(rand() * 200));
        for (let k = 0; k < b.length; k++) b[k] = Math.floor(rand() * 256);
        if (b.length > 13 && rand() < 0.7) b.writeUInt16BE([ETH_IPV4, ETH_IPV6, 0x8100, 0x88a8][Math.floor(rand() * 4)]!, 12);
      } else {
        b = Buffer.from(seeds[i % seeds.length]!);
        const flips = 1 + Math.floor(rand() * 6);
        for (let k = 0; k < flips; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
        if (rand() < 0.2) b = b.subarray(0, Math.floor(rand() * b.length));
      }
      const gso = rand() < 0.05 ? 2 + Math.floor(rand() * 4) : 0;
      yield { hook: rand() < 0.5 ? 'in' : 'eg', data: b, gsoSegs: gso, gsoSize: gso ? 100 : 0 };
    }
  }
  const d = await runPackets(tools, packets(), { maxFlows: 200_000 });
  // The harness tallies, in user space, what the kernel let through to the program.
  const m = /ran (\d+) packets, (\d+) refused[^\n]*\n.*accepted bytes (\d+), wire packets (\d+)/.exec(d.stderr);
  t.truthy(m, d.stderr);
  const [ran, refused, bytes, wirePackets] = m!.slice(1).map(Number) as [number, number, number, number];
  t.is(ran, N, 'every frame was run and returned TC_ACT_OK (the harness fails otherwise)');
  const c = { in: d.counters.ingress, eg: d.counters.egress };
  t.is(c.in.packets + c.eg.packets, wirePackets, 'every frame that reached TC is counted (GSO expanded)');
  t.true(c.in.bytes + c.eg.bytes >= bytes, 'wire bytes include repeated GSO headers');
  const ipPackets = c.in.ipv4 + c.in.ipv6 + c.eg.ipv4 + c.eg.ipv6;
  const inFlows = d.flows.reduce((a, f) => a + f.up.packets + f.down.packets, 0);
  t.is(c.in.flowFailed + c.eg.flowFailed, 0);
  // mutated addresses make most frames a flow of their own, and such a flow's packet can be
  // pushed out of its pending slot by the next new flow: counted, in no flow
  t.is(inFlows + c.in.displaced + c.eg.displaced, ipPackets, 'every parsed IP packet is in exactly one flow or counted as displaced');
  for (const f of d.flows) {
    for (const side of [f.up, f.down]) t.true(side.payloadBytes <= side.bytes, `payload within wire bytes: ${JSON.stringify(side)}`);
  }
  t.is(d.flows.length, c.in.flowsCreated + c.eg.flowsCreated, 'no eviction with room for every flow');
  t.log(`${N} frames: ${N - refused} reached TC, ${d.flows.length} flows, ${c.in.displaced + c.eg.displaced} displaced, ${c.in.truncated + c.eg.truncated} truncated, ${c.in.nonIp + c.eg.nonIp} non-IP`);
});

test('LRU: more flows than the table holds evicts old ones and counts what happened', async (t) => {
  const pkts: TestPacket[] = [];
  // two packets each: a flow enters the table with its second packet
  for (let i = 0; i < 1000; i++) {
    const p = inn(frame(ETH_IPV4, ipv4('192.168.1.20', '10.0.0.1', UDP, udp(10000 + i, 443, 10))));
    pkts.push(p, p);
  }
  const d = await runPackets(tools, pkts, { maxFlows: 64 });
  const created = d.counters.ingress.flowsCreated;
  t.is(created + d.counters.ingress.flowFailed, 1000, 'every packet either made a flow or was counted as not stored');
  t.true(d.flows.length <= 64, `${d.flows.length} live flows`);
  const evicted = created - d.flows.length;
  t.true(evicted >= 1000 - 64 - d.counters.ingress.flowFailed, `evicted ${evicted}`);
  // The newest flow survives eviction.
  t.true(d.flows.some((f) => f.portB === 10999 || f.portA === 10999));
  t.log(`created ${created}, live ${d.flows.length}, evicted ${evicted}, not stored ${d.counters.ingress.flowFailed}`);
});
