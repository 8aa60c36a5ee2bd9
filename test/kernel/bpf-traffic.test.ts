/**
 * Real traffic between two network namespaces over veth, the flow extractor attached at TC:
 * per-flow bytes must equal what the senders sent, and the hook totals what the interface
 * counted. Needs root.
 */
import test from 'ava';
import { rm } from 'node:fs/promises';
import { attach, buildBpfTools, type BpfTools } from '../../devkit/bpf.js';
import { inNs, trafficIn, VethPair } from '../../devkit/netns.js';
import { TCP, UDP } from '../../devkit/packets.js';

let tools: BpfTools;
test.before(async () => {
  tools = await buildBpfTools('bpfel');
});
test.after.always(() => rm(tools.dir, { recursive: true, force: true }));


test('TCP downloads and a UDP stream across veth: flows, bytes and interface totals agree', async (t) => {
  const net = new VethPair();
  t.teardown(() => net.down());
  await net.up();
  // Quiet by construction: nothing crosses the pair unless a test sends it. Longer than the
  // kernel's MLD report interval (1 s), whose repeats once broke the count below by one.
  const idle = await net.stats(net.server, net.serverIf);
  await new Promise((r) => setTimeout(r, 1500));
  t.deepEqual(await net.stats(net.server, net.serverIf), idle, 'no packet crosses an idle pair');
  // The server-side end faces the client like a router's LAN port: ingress there is upstream.
  const session = await attach(tools, [net.serverIf], { netns: net.server, role: 'lan' });
  const before = await net.stats(net.server, net.serverIf);

  const sizes = [1_000_000, 3_000_000, 200_000];
  let ready!: () => void;
  const listening = new Promise<void>((r) => (ready = r));
  const server = trafficIn(net.server, ['tcp-serve', '::', '8080', String(sizes.length + 1)], () => ready());
  await listening;
  const gets = [];
  for (const s of sizes) gets.push(await trafficIn(net.client, ['tcp-get', net.serverV4, '8080', String(s)]));
  const get6 = await trafficIn(net.client, ['tcp-get', net.serverV6, '8080', '500000']);
  const served = (await server).at(-1) as { served: { request: number; sent: number }[] };
  t.is(served.served.length, 4);

  let udpReady!: () => void;
  const udpListening = new Promise<void>((r) => (udpReady = r));
  const recv = trafficIn(net.client, ['udp-recv', net.clientV4, '9000', '400'], () => udpReady());
  await udpListening;
  const sent = (await trafficIn(net.server, ['udp-send', net.clientV4, '9000', '400', '1200', '9001']))[0] as { sent: number; bytes: number };
  const got = (await recv).at(-1) as { packets: number; bytes: number };

  const dump = await session.stop();
  const after = await net.stats(net.server, net.serverIf);

  // Every TCP download: one flow, the client identified, payload bytes exactly as sent.
  for (const [i, s] of [...sizes, 500_000].entries()) {
    const g = (i < sizes.length ? gets[i]![0] : get6[0]) as { received: number; request: number; local: number };
    t.is(g.received, s);
    const f = dump.flows.find((x) => x.proto === TCP && (x.portA === g.local || x.portB === g.local));
    t.truthy(f, `flow of download ${i}`);
    const client = f!.client === 'a' ? f!.a : f!.b;
    t.is(client, i < sizes.length ? net.clientV4 : net.clientV6);
    // A busy host can make the peer's backlog drop a frame after TC saw it; TCP then sends it
    // again and TC counts it twice. The retransmitted payload is tracked, so the sum is exact.
    t.is(f!.down.payloadBytes - f!.down.retransBytes, s, `download ${i}: downstream payload = bytes sent`);
    t.is(f!.up.payloadBytes, g.request, `download ${i}: upstream payload = the request`);
    t.is(f!.down.streamBytes, s, `download ${i}: the stream bytes count each byte once`);
      t.true(f!.segCount >= 1);
    t.is(f!.segments.at(-1)!.downBytes - f!.down.retransBytes, s, 'the response is one segment');
    t.is((f!.up.tcpFlags & 0x02) !== 0, true, 'SYN seen upstream');
  }
  // The UDP stream: the BPF program sees what the sender sent (even if a socket drops some).
  const u = dump.flows.find((x) => x.proto === UDP);
  t.truthy(u);
  t.is(u!.down.packets, sent.sent);
  t.is(u!.down.payloadBytes, sent.bytes);
  t.is(u!.up.packets, 0);
  t.true(got.packets <= sent.sent);
  t.log(`UDP: sent ${sent.sent}, received ${got.packets}`);

  // Hook totals reconcile with the interface's own counters, both ways.
  const c = dump.counters;
  t.is(c.ingress.packets, after.rxPackets - before.rxPackets, 'ingress packets = interface rx');
  t.is(c.ingress.bytes, after.rxBytes - before.rxBytes, 'ingress bytes = interface rx');
  const dropped = after.txDropped - before.txDropped;
  t.is(c.egress.packets, after.txPackets - before.txPackets + dropped, 'egress packets = interface tx (+ dropped after TC)');
  if (dropped === 0) t.is(c.egress.bytes, after.txBytes - before.txBytes, 'egress bytes = interface tx');
  else t.true(c.egress.bytes - (after.txBytes - before.txBytes) <= dropped * 1514, 'egress bytes = interface tx + dropped frames');
  // And with the flows: every IP packet is in one flow.
  const flowPackets = dump.flows.reduce((a, f) => a + f.up.packets + f.down.packets, 0);
  t.is(flowPackets, c.ingress.ipv4 + c.ingress.ipv6 + c.egress.ipv4 + c.egress.ipv6);
  t.log(`rx ${c.ingress.packets} pkts / ${c.ingress.bytes} B, tx ${c.egress.packets} pkts / ${c.egress.bytes} B, ${dump.flows.length} flows`);

  // Detached: no filter left on the interface.
  const filters = await inNs(net.server, 'tc', ['filter', 'show', 'dev', net.serverIf, 'ingress']);
  t.is(filters.trim(), '');
});
