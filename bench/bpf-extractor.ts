/**
 * Benchmark of the flow extractor (issue: bpf/). Prints figures, never passes or fails on them.
 * Per packet, four programs on the same packets, interleaved: fw_lan_ingress, an empty TC
 * program (the baseline), the flow table alone (bpf/harness/lru_floor.bpf.c: fw_flows'
 * LRU table, key and record, a lookup and for a new flow the insert; no parsing, no clock), and
 * fw_lan_ingress with the in-kernel model (fw_flows_forest.bpf.o; no window ends in these runs:
 * its windows are 10 s). Then one prediction of the in-kernel forest (fw_forest_eval) on the
 * held-out windows' rows (models/kernel-forest.check.jsonl).
 *   node --import=tsx bench/bpf-extractor.ts [--rounds N (11)] [--max-flows N] [--json]
 *        [--compare NAME=FILE.c[:PROG]]...
 * --compare runs another project's TC program beside them on the same packets, compiled from
 * its source where it lies (bpf/Makefile `other`), e.g. OpenWrt's qosify:
 *   --compare qosify=../qosify/qosify-bpf.c   (PROG: the object's first program by default)
 * It loads with its maps empty, as before its daemon has written any configuration.
 * --max-flows sizes fw_flows (and the table-alone program's table); without it, the table the
 * object declares (FW_FLOWS_MAX_ENTRIES), which is what a router loads. A larger table costs a
 * new flow more: its lookup misses touch more memory.
 * Needs root, Docker (to compile) and iperf3 (for the throughput part).
 */
import { execFile, spawn } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { projectPath } from '../builder/util/paths.js';
import { which } from '../builder/util/which.js';
import { attach, benchProgram, buildBpfTools, buildOtherPrograms, verifierStats, type BpfTools, type OtherProgram } from '../devkit/bpf.js';
import { inNs, VethPair } from '../devkit/netns.js';
import { ETH_ARP, ETH_IPV4, frame, ipv4, SYN, TCP, tcp } from '../devkit/packets.js';

const execFileP = promisify(execFile);

let maxFlows: number | undefined;

async function meanNs(tools: BpfTools, object: string, prog: string, lines: string[], repeat: number): Promise<number> {
  return (await benchProgram(tools, object, prog, lines, repeat, { maxFlows })).meanNs;
}

// a LAN client's SYN to a new server and port: the first packet of a connection it opens
const synPacket = (i: number): string =>
  frame(ETH_IPV4, ipv4('192.168.1.20', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, TCP, tcp(40000 + (i % 20000), 443, { seq: 1000, flags: SYN }))).toString('hex');

const tcpPacket = (i: number): string =>
  frame(ETH_IPV4, ipv4(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, '192.168.1.20', TCP, tcp(443, 40000 + (i % 20000), { seq: 1000, payload: 1400 }))).toString('hex');

async function iperf(net: VethPair, seconds: number): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', net.server, 'iperf3', '-s', '-1', '-B', net.serverV4], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  try {
    const { stdout } = await execFileP('ip', ['netns', 'exec', net.client, 'iperf3', '-c', net.serverV4, '-t', String(seconds), '-R', '-J'], { maxBuffer: 64 << 20 });
    return (JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
  } finally {
    server.kill();
  }
}

/** `NAME=FILE.c[:PROG]`, checked before anything is built. */
async function parseCompare(spec: string): Promise<OtherProgram & { prog?: string }> {
  const m = /^([A-Za-z0-9_-]{1,40})=(.+?\.c)(?::([A-Za-z_][A-Za-z0-9_]*))?$/.exec(spec);
  if (!m) throw new Error(`--compare needs NAME=FILE.c[:PROG] (NAME of letters, digits, - or _), got "${spec}"`);
  const [, name, source, prog] = m as unknown as [string, string, string, string | undefined];
  if (['fw_flows', 'fw_flows_forest', 'empty_tc', 'lru_floor'].includes(name)) throw new Error(`--compare: the name "${name}" is taken by the bench's own programs`);
  const st = await stat(source).catch(() => undefined);
  if (!st?.isFile()) throw new Error(`--compare ${name}: no such file: ${source}`);
  return { name, source: path.resolve(source), prog };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '11' }, 'max-flows': { type: 'string' }, json: { type: 'boolean' }, compare: { type: 'string', multiple: true } } });
  const json = values.json === true;
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds needs a whole number of at least 1, got "${values.rounds}"`);
  if (values['max-flows'] !== undefined) {
    const n = Number(values['max-flows']);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--max-flows needs a whole number of at least 1, got "${values['max-flows']}"`);
    maxFlows = n;
  }
  const compare = await Promise.all((values.compare ?? []).map(parseCompare));
  if (new Set(compare.map((c) => c.name)).size !== compare.length) throw new Error('--compare: each NAME once');
  const tools = await buildBpfTools('bpfel');
  const empty = path.join(path.dirname(tools.object), 'empty_tc.bpf.o');
  // the flow table alone (bpf/harness/lru_floor.bpf.c): what fw_flows cannot go below
  const floor = path.join(path.dirname(tools.object), 'lru_floor.bpf.o');
  try {
    const otherObjects = await buildOtherPrograms(tools, compare);
    const verifier: Record<string, Record<string, number>> = {
      fw_flows: await verifierStats(tools),
      fw_flows_forest: await verifierStats(tools, tools.forestObject),
      empty_tc: await verifierStats(tools, empty),
    };
    const others: (OtherProgram & { object: string; prog: string })[] = [];
    for (const c of compare) {
      const object = otherObjects[c.name]!;
      verifier[c.name] = await verifierStats(tools, object);
      const prog = c.prog ?? Object.keys(verifier[c.name]!)[0];
      if (!prog || !(prog in verifier[c.name]!)) throw new Error(`--compare ${c.name}: ${c.source} has no program ${prog ?? ''} (it has: ${Object.keys(verifier[c.name]!).join(', ') || 'none'})`);
      others.push({ ...c, object, prog });
    }
    const REPEAT = 1_000_000;
    const NEW = 100_000;
    const existing = [tcpPacket(1)];
    const fresh = Array.from({ length: NEW }, (_, i) => tcpPacket(i + 2));
    // a flow's first packet waits in a pending slot and its second records it (fw_maps.h): the
    // pairs case runs each new flow's first two packets back to back
    const pairs = fresh.slice(0, NEW / 2).flatMap((l) => [l, l]);
    // The new-flow cases run one packet per system call, so caches are cold for every packet;
    // the same for packets of 1,000 flows already recorded (after their first two of 100) is
    // what any packet costs that way: the new-flow rows' floor.
    const recorded = Array.from({ length: NEW / 1000 }, () => fresh.slice(0, 1000)).flat();
    const arp = [frame(ETH_ARP, Buffer.alloc(28, 1)).toString('hex')];
    const cases = {
      'TCP, existing flow': { lines: existing, repeat: REPEAT },
      'TCP, new flow': { lines: fresh, repeat: 1 },
      'TCP, new flow (SYN)': { lines: Array.from({ length: NEW }, (_, i) => synPacket(i + 2)), repeat: 1 },
      'TCP, new flow: 2 pkts': { lines: pairs, repeat: 1 },
      'TCP, 1k flows, 1 run each': { lines: recorded, repeat: 1 },
      'non-IP frame (ARP)': { lines: arp, repeat: REPEAT },
    };
    // Interleaved rounds, the order of the two programs alternating, so that a noisy stretch
    // of the machine falls on both; medians per case, and the spread of the difference.
    type Row = { ns: number; emptyNs: number; overNs: number; ratio: number; overMin: number; overMax: number; tableOverNs: number; forestOverNs: number; forestMinusFw: number; othersOverNs: Record<string, number> };
    const samples: Record<string, { ns: number[]; emptyNs: number[]; over: number[]; table: number[]; forest: number[]; forestMinusFw: number[]; others: Record<string, number[]> }> = {};
    for (let round = 0; round < rounds; round++) {
      for (const [name, c] of Object.entries(cases)) {
        const fw = (): Promise<number> => meanNs(tools, tools.object, 'fw_lan_ingress', c.lines, c.repeat);
        const base = (): Promise<number> => meanNs(tools, empty, 'empty_tc', c.lines, c.repeat);
        const table = (): Promise<number> => meanNs(tools, floor, 'lru_floor', c.lines, c.repeat);
        const forest = (): Promise<number> => meanNs(tools, tools.forestObject, 'fw_lan_ingress', c.lines, c.repeat);
        let ns: number;
        let emptyNs: number;
        let tableNs: number;
        let forestNs: number;
        const otherNs: Record<string, number> = {};
        const runOthers = async (): Promise<void> => {
          for (const o of round % 2 === 0 ? others : [...others].reverse()) otherNs[o.name] = await meanNs(tools, o.object, o.prog, c.lines, c.repeat);
        };
        if (round % 2 === 0) {
          ns = await fw();
          forestNs = await forest();
          emptyNs = await base();
          tableNs = await table();
          await runOthers();
        } else {
          await runOthers();
          tableNs = await table();
          emptyNs = await base();
          forestNs = await forest();
          ns = await fw();
        }
        const s = (samples[name] ??= { ns: [], emptyNs: [], over: [], table: [], forest: [], forestMinusFw: [], others: {} });
        for (const [o, v] of Object.entries(otherNs)) (s.others[o] ??= []).push(v - emptyNs);
        s.ns.push(ns);
        s.emptyNs.push(emptyNs);
        s.over.push(ns - emptyNs);
        s.table.push(tableNs - emptyNs);
        s.forest.push(forestNs - emptyNs);
        s.forestMinusFw.push(forestNs - ns);
      }
    }
    const perPacket: Record<string, Row> = {};
    for (const [name, s] of Object.entries(samples)) {
      const ns = median(s.ns);
      const emptyNs = median(s.emptyNs);
      perPacket[name] = {
        ns,
        emptyNs,
        overNs: median(s.over),
        ratio: ns / emptyNs,
        overMin: Math.min(...s.over),
        overMax: Math.max(...s.over),
        tableOverNs: median(s.table),
        forestOverNs: median(s.forest),
        forestMinusFw: median(s.forestMinusFw),
        othersOverNs: Object.fromEntries(Object.entries(s.others).map(([o, v]) => [o, median(v)])),
      };
    }
    // one prediction of the in-kernel forest: every held-out row, each run 1,000 times
    const rows = (await readFile(projectPath('models', 'kernel-forest.check.jsonl'), 'utf8')).trim().split('\n')
      .map((l) => { const b = Buffer.alloc(256); (JSON.parse(l) as { row: number[] }).row.forEach((v, i) => b.writeUInt32LE(v, i * 4)); return b.toString('hex'); });
    const predictionNs: number[] = [];
    for (let round = 0; round < rounds; round++) predictionNs.push(await meanNs(tools, tools.forestObject, 'fw_forest_eval', rows, 1000));
    const forestPrediction = { ns: median(predictionNs), rows: rows.length };

    let throughput: { withoutGbps: number; withGbps: number; ratio: number; lossPercent: number } | string = 'skipped: iperf3 not installed (apt-get install iperf3)';
    if (await which('iperf3')) {
      const net = new VethPair();
      try {
        await net.up();
        // Offloads back on: the realistic case for a host (the tests turn them off to count exactly).
        for (const [ns, dev] of [[net.client, net.clientIf], [net.server, net.serverIf]] as const) {
          await inNs(ns, 'ethtool', ['-K', dev, 'tso', 'on', 'gso', 'on', 'gro', 'on']);
        }
        const without: number[] = [];
        const withProgs: number[] = [];
        for (let i = 0; i < 3; i++) {
          without.push(await iperf(net, 4));
          const s = await attach(tools, [net.serverIf], { netns: net.server, role: 'lan' });
          try {
            withProgs.push(await iperf(net, 4));
          } finally {
            await s.stop();
          }
        }
        const a = median(without);
        const b = median(withProgs);
        throughput = { withoutGbps: a / 1e9, withGbps: b / 1e9, ratio: b / a, lossPercent: (1 - b / a) * 100 };
      } finally {
        await net.down();
      }
    }
    const report = { maxFlows: maxFlows ?? 'the object\'s own', compared: others.map(({ name, prog, source }) => ({ name, prog, source })), verifierProcessedInsns: verifier, perPacket, forestPrediction, throughput };
    if (json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    console.log('verifier, processed instructions:', JSON.stringify(verifier));
    console.log(`BPF_PROG_TEST_RUN, ns per packet (fw_lan_ingress vs an empty TC program, median of ${rounds} interleaved rounds; fw_flows: ${report.maxFlows} entries):`);
    for (const [n, r] of Object.entries(perPacket)) {
      const spread = `(${r.overMin.toFixed(0)}..${r.overMax.toFixed(0)})`;
      console.log(
        `  ${n.padEnd(20)} ${r.ns.toFixed(1).padStart(7)} ns  empty ${r.emptyNs.toFixed(1).padStart(6)} ns  +${r.overNs.toFixed(1)} ns ${spread}  x${r.ratio.toFixed(2)}` +
          `   the flow table alone (lookup, insert of a new record): +${r.tableOverNs.toFixed(1)} ns` +
          `   with the in-kernel model: +${r.forestOverNs.toFixed(1)} ns (${r.forestMinusFw >= 0 ? '+' : ''}${r.forestMinusFw.toFixed(1)} ns)`,
      );
    }
    if (others.length) {
      console.log(`side by side, ns per packet over the empty program (median of ${rounds}; each program with its own tables, maps empty at load):`);
      console.log(`  ${'case'.padEnd(26)} ${['fw_flows', ...others.map((o) => `${o.name} (${o.prog})`)].map((h) => h.padStart(24)).join('')}`);
      for (const [n, r] of Object.entries(perPacket)) {
        console.log(`  ${n.padEnd(26)} ${[r.overNs, ...others.map((o) => r.othersOverNs[o.name]!)].map((v) => `+${v.toFixed(1)}`.padStart(24)).join('')}`);
      }
    }
    console.log(`in-kernel forest, one prediction (fw_forest_eval, ${forestPrediction.rows} held-out rows): ${forestPrediction.ns.toFixed(1)} ns`);
    const first = perPacket['TCP, new flow']!;
    const pair = perPacket['TCP, new flow: 2 pkts']!;
    console.log(`  so a new flow's second packet (2 x the pair's mean - the first's): +${(2 * pair.overNs - first.overNs).toFixed(1)} ns over empty`);
    console.log('bulk TCP over veth (iperf3, median of 3 x 4 s):', typeof throughput === 'string' ? throughput : `${throughput.withoutGbps.toFixed(2)} Gbit/s without, ${throughput.withGbps.toFixed(2)} Gbit/s with (ratio ${throughput.ratio.toFixed(3)}, loss ${throughput.lossPercent.toFixed(1)}%)`);
  } finally {
    await rm(tools.dir, { recursive: true, force: true });
  }
}

await main();
