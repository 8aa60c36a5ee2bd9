/**
 * The in-kernel model (fw_flows_forest.bpf.o) on the real host kernel: the exported forest
 * against the trained one on every held-out window, and a flow's windows closed by crafted
 * packets, with every input the kernel computed checked against the flow record. Needs root
 * (BPF) and Docker (to compile).
 */
import test from 'ava';
import { readFile, rm } from 'node:fs/promises';
import { buildBpfTools, evalRows, runPackets, verifierStats, type BpfTools, type Flow, type TestPacket, type Wait } from '../../devkit/bpf.js';
import { ACK, ETH_IPV4, frame, ipv4, PSH, SYN, TCP, tcp } from '../../devkit/packets.js';
import { projectPath } from '../../builder/util/paths.js';

let tools: BpfTools;
test.before(async () => {
  tools = await buildBpfTools('bpfel');
});
test.after.always(() => rm(tools.dir, { recursive: true, force: true }));

/** enum fw_kf (bpf/include/fw_forest.h) = KFEATURES (models/kernel_forest.py) */
const DIR_INPUTS = ['Packets', 'Bytes', 'Payload', 'MeanSize', 'Retrans', 'Gaps', 'RetransBytes', 'StreamBytes'];
const range = (n: number): number[] => [...Array(n).keys()];
const KF = [
  ...['up', 'down'].flatMap((d) => [...DIR_INPUTS, ...range(8).map((i) => `SizeHist${i}`), ...range(8).map((i) => `IatHist${i}`)].map((n) => d + n)),
  'segStarted', 'segMeanDown', 'segMeanMs', 'segLastDown', 'segLastMs', 'ageDs',
  ...range(4).map((i) => `segEndMs${i}`), ...range(8).map((i) => `segBytes${i}`), ...range(8).map((i) => `segAgoMs${i}`),
  'segKbps', 'segLastKbps', 'bytesPerSeg', ...range(7).map((i) => `segRate${i + 1}`),
];
const CAP = 2 ** 24 - 1;
const q16 = (v: number): number => Math.min(Math.floor(v / 16), CAP);
const ms = (ns: number): number => Math.floor(ns / 1e6);

interface Model {
  inputs: string[];
  history: number;
}
const model = async (): Promise<Model> => JSON.parse(await readFile(projectPath('models', 'kernel-forest.json'), 'utf8')) as Model;

test('the forest in the kernel decides every held-out window as the trained forest did: class and confidence', async (t) => {
  const rows = (await readFile(projectPath('models', 'kernel-forest.check.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { row: number[]; resolution: number; confidencePct: number });
  const got = await evalRows(tools, tools.forestObject, 'fw_forest_eval', rows.map((r) => r.row));
  t.is(got.length, rows.length);
  const wrong = rows.filter((r, i) => got[i] !== (r.resolution | (r.confidencePct << 8)));
  t.true(rows.length > 1000, `${rows.length} held-out windows`);
  t.deepEqual(wrong.slice(0, 3), [], `${wrong.length} of ${rows.length} differ`);
  // not one class everywhere: the check would prove little
  t.true(new Set(rows.map((r) => r.resolution)).size >= 4);
});

test('the in-kernel model\'s programs verify, each within the flow table\'s budget', async (t) => {
  const stats = await verifierStats(tools, tools.forestObject);
  t.log(JSON.stringify(stats));
  // the window end and the forest are branch-free (bpf/fw_window.bpf.h): they stay far below
  // the 106,735 instructions fw_window_end took with branches (1.5 s of load on qemu-armv7)
  for (const p of ['fw_window_end', 'fw_forest_eval', 'fw_lan_ingress', 'fw_lan_egress', 'fw_wan_ingress', 'fw_wan_egress', 'fw_lan_ingress_ip', 'fw_wan_egress_ip']) {
    t.true(stats[p]! > 0 && stats[p]! < 50_000, `${p}: ${stats[p]}`);
  }
  const strict = await verifierStats(tools, tools.forestObject, { strictAlignment: true });
  t.is(Object.keys(strict).length, Object.keys(stats).length);
});

const CLIENT = '10.0.0.2';
const SERVER = '10.0.0.1';
const up = (o: Parameters<typeof tcp>[2]): TestPacket => ({ hook: 'in', data: frame(ETH_IPV4, ipv4(CLIENT, SERVER, TCP, tcp(40000, 80, o))) });
const down = (o: Parameters<typeof tcp>[2]): TestPacket => ({ hook: 'eg', data: frame(ETH_IPV4, ipv4(SERVER, CLIENT, TCP, tcp(80, 40000, o))) });
const WINDOW_MS = 300;
const pause: Wait = { waitMs: WINDOW_MS + 150 };

/** A handshake, a request and its 3-packet response, then a pause and a second request, which closes window 1. */
const window1 = (): (TestPacket | Wait)[] => [
  up({ seq: 1000, flags: SYN }),
  down({ seq: 5000, flags: SYN | ACK }),
  up({ seq: 1001, flags: PSH | ACK, payload: 200 }),
  down({ seq: 5001, flags: ACK, payload: 1400 }),
  down({ seq: 6401, flags: ACK, payload: 1400 }),
  down({ seq: 7801, flags: PSH | ACK, payload: 1400 }),
  up({ seq: 1201, flags: ACK }),
  pause,
  up({ seq: 1201, flags: PSH | ACK, payload: 200 }),
];
/** The second request's 2-packet response, then a pause and a third request, which closes window 2. */
const window2 = (): (TestPacket | Wait)[] => [
  down({ seq: 9201, flags: ACK, payload: 1400 }),
  down({ seq: 10601, flags: PSH | ACK, payload: 1400 }),
  up({ seq: 1401, flags: ACK }),
  pause,
  up({ seq: 1401, flags: PSH | ACK, payload: 200 }),
];

/** What the kernel must have computed for a window that began with the flow, from the flow record. */
function expectedFirstWindow(f: Flow, endNs: number): Record<string, number> {
  const e: Record<string, number> = {};
  for (const [d, s] of [['up', f.up], ['down', f.down]] as const) {
    e[`${d}Packets`] = s.packets;
    e[`${d}Bytes`] = q16(s.bytes);
    e[`${d}Payload`] = q16(s.payloadBytes);
    e[`${d}MeanSize`] = Math.floor(s.bytes / s.packets);
    e[`${d}Retrans`] = s.retrans;
    e[`${d}Gaps`] = s.gaps;
    e[`${d}RetransBytes`] = q16(s.retransBytes);
    e[`${d}StreamBytes`] = q16(s.streamBytes);
    s.sizeHist.forEach((v, i) => (e[`${d}SizeHist${i}`] = v));
    s.iatHist.forEach((v, i) => (e[`${d}IatHist${i}`] = v));
  }
  const first = Math.min(f.up.firstNs, f.down.firstNs);
  const newest = [...f.segments].reverse();
  e['segStarted'] = f.segCount;
  e['ageDs'] = Math.floor((endNs - first) / 1e8);
  f.earlyEndNs.forEach((v, i) => (e[`segEndMs${i}`] = v > first ? ms(v - first) : 0));
  range(8).forEach((i) => {
    e[`segBytes${i}`] = newest[i] ? q16(newest[i]!.downBytes) : 0;
    e[`segAgoMs${i}`] = newest[i] ? ms(endNs - newest[i]!.startNs) : 0;
  });
  return e;
}

test('a flow\'s windows end with their first packet past the end: every input from the record, the answer from the forest', async (t) => {
  const m = await model();
  const o = { object: tools.forestObject, windowMs: WINDOW_MS };
  const one = await runPackets(tools, window1(), o);
  const flow1 = one.flows[0]!;
  t.is(one.windows?.length, 1);
  const w1 = one.windows![0]!;
  t.is(w1.windows, 1, 'the request after the pause closed the first window');
  t.is(w1.endNs, flow1.up.lastNs, 'the closing packet is the window\'s last');
  t.is(w1.startupMs, 0, 'two requests: the first media segment is not known to be in');
  const in1 = one.lastInputs!;
  t.is(in1.length, KF.length);
  const got1 = Object.fromEntries(KF.map((n, i) => [n, in1[i]!]));
  const want1 = expectedFirstWindow(flow1, w1.endNs);
  for (const [n, v] of Object.entries(want1)) t.is(got1[n], v, n);
  // spot values, so that a wrong record could not make both sides agree
  t.is(got1['upPackets'], 4);
  t.is(got1['downPackets'], 4);
  t.is(got1['downPayload'], q16(4200));
  t.is(got1['segStarted'], 2);
  t.is(got1['segBytes1'], q16(4200));
  t.is(got1['segBytes0'], 0);
  t.is(got1['segRate1'], Math.floor((q16(4200) * 128) / Math.max(got1['segAgoMs1']! - got1['segAgoMs0']!, 1)));

  const two = await runPackets(tools, [...window1(), ...window2()], o);
  const flow2 = two.flows[0]!;
  const w2 = two.windows![0]!;
  t.is(w2.windows, 2);
  const got2 = Object.fromEntries(KF.map((n, i) => [n, two.lastInputs![i]!]));
  // only what came after the first window's last packet
  t.is(got2['upPackets'], 2);
  t.is(got2['downPackets'], 2);
  t.is(got2['downPayload'], q16(2800));
  t.is(got2['upPayload'], q16(200));
  t.is(got2['segStarted'], 1);
  t.is(got2['segBytes1'], q16(2800));
  t.is(got2['segBytes2'], q16(4200));
  // a third request: the second response (the first media segment) has ended
  const first = Math.min(flow2.up.firstNs, flow2.down.firstNs);
  t.is(w2.startupMs, ms(flow2.earlyEndNs[1]! - first));
  t.true(w2.startupMs > WINDOW_MS, `startup ${w2.startupMs} ms, after the pause`);

  // the answer is the forest's on this window's selected inputs, then the window before's, then zeros
  const sel = m.inputs.map((n) => KF.indexOf(n));
  t.false(sel.includes(-1));
  const now = sel.map((i) => got2[KF[i]!]!);
  t.deepEqual(w2.keep0.slice(0, sel.length), now, 'the window\'s selected inputs are kept for the next');
  t.deepEqual(w2.keep1.slice(0, sel.length), sel.map((i) => { const n = KF[i]!; return n.startsWith('seg') || n === 'ageDs' ? w2.keep1[sel.indexOf(i)]! : got1[n]!; }),
    'the first window\'s counter inputs, as in the run that stopped after it');
  const [answer] = await evalRows(tools, tools.forestObject, 'fw_forest_eval', [[...now, ...w2.keep1.slice(0, sel.length), ...sel.map(() => 0)]]);
  t.is(w2.resolution, answer! & 0xff);
  t.is(w2.confidencePct, answer! >> 8);
});
