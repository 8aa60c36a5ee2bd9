/**
 * Network conditions for the lab's sessions, as data: each trace is a list of link rates the
 * router applies with tc's tbf at the given second of the session, and a random loss rate for
 * the whole session. The lab machines' kernel has no netem: there is no added fixed delay (the
 * delay is the queueing delay tbf builds, up to 300 ms), and loss is a BPF filter
 * (bpf/harness/lab_loss.bpf.c) on the router's WAN ingress, so lost packets never reach the
 * LAN port the runner watches, as with loss upstream of a home router.
 */
import { rng as xorshift32 } from '../../devkit/packets.js';

export type TraceKind = 'steady' | 'stepped' | 'fluctuating' | 'lossy';
export interface TraceStep {
  atS: number;
  kbit: number;
}
export interface Trace {
  kind: TraceKind;
  /** parts per million, one of LOSS_PPM (0: none) */
  lossPpm: number;
  steps: TraceStep[];
}

/** The loss rates bpf/Makefile's `lab` target builds objects for. */
export const LOSS_PPM = [5000, 10000, 15000, 20000, 25000];

/** Link rates from a weak DSL line to a good one, in kbit/s. */
const RATES = [500, 900, 1400, 2200, 3200, 4500, 6500, 10000];

/** A session's trace depends only on its seed: xorshift32 over the seed, spread by a multiplier. */
export const rng = (seed: number): (() => number) => xorshift32(seed * 2654435761);

export function makeTrace(kind: TraceKind, seed: number, seconds: number): Trace {
  const r = rng(seed);
  const pick = (): number => RATES[Math.floor(r() * RATES.length)]!;
  switch (kind) {
    case 'steady':
      return { kind, lossPpm: 0, steps: [{ atS: 0, kbit: pick() }] };
    case 'lossy':
      return { kind, lossPpm: LOSS_PPM[Math.floor(r() * LOSS_PPM.length)]!, steps: [{ atS: 0, kbit: pick() }] };
    case 'stepped': {
      const steps: TraceStep[] = [];
      for (let t = 0; t < seconds; t += 20 + Math.round(r() * 10)) steps.push({ atS: t, kbit: pick() });
      return { kind, lossPpm: 0, steps };
    }
    case 'fluctuating': {
      const base = pick();
      const steps: TraceStep[] = [];
      for (let t = 0; t < seconds; t += 2) steps.push({ atS: t, kbit: Math.max(300, Math.round(base * (0.4 + r() * 1.2))) });
      return { kind, lossPpm: 0, steps };
    }
  }
}

export const TRACE_KINDS: TraceKind[] = ['steady', 'stepped', 'fluctuating', 'lossy'];
