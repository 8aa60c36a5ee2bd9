#!/usr/bin/python3
"""Trains the video-quality models on the lab's windows and exports them to JavaScript.

    /usr/bin/python3 models/train.py [--data models/data] [--out models/build]

Debian's python3-sklearn (1.2) and numpy. Two answers from the features the runner computes
for a flow in a 10 s window (fwrunner --record in the lab):
- resolution: the class of the resolution played in the window (240p ... 1080p), on windows
  with at least 5 s of playback;
- startup delay of a session, answered once per flow: in the first window in which the flow's
  third response has begun, so that its second (the first media segment, after which the lab's
  player starts playing) has ended. The answer is the end of that response. A forest trained
  on what to add to it did worse in 5-fold cross-validation by session on the 310 training
  sessions (0.060 s mean error, 10 trees of depth 4 or 6, on its own 5 best inputs, squared or
  absolute error) than the end alone (0.052 s), so the answer is the end alone.
Sessions are split into training and held-out sets (GroupShuffleSplit on the session id),
never windows. Every (trees x depth) point of the grid is exported to JavaScript: one function
per tree, inputs quantised to integers, so every threshold is an integer and the exported
model decides exactly as the trained one. Writes <out>/grid.json and one .js and one
.check.jsonl (held-out features and the trained model's answers) per grid point.
"""
import argparse
import json
import math
import os
import re

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import GroupShuffleSplit

CLASSES = ["240p", "360p", "480p", "720p", "1080p"]
# The runner's array features and their lengths: histograms, the flow's first segments' ends,
# and its last segments (newest first).
ARRAYS = {"upSizeHist": 8, "upIatHist": 8, "downSizeHist": 8, "downIatHist": 8, "segEndMs": 4, "segBytes": 8, "segAgoMs": 8}
SCALARS = [
    "upPackets", "upBytes", "upPayload", "upMbps", "upMeanSize", "upRetrans", "upGaps",
    "downPackets", "downBytes", "downPayload", "downMbps", "downMeanSize", "downRetrans", "downGaps",
    "segStarted", "segMeanDown", "segMeanMs", "segLastDown", "segLastMs", "parallelFlows", "ageS",
    "upRetransBytes", "downRetransBytes", "upStreamBytes", "downStreamBytes",
]
# Integer inputs: x = floor(value * scale). Byte counts in units of 16 bytes keep every value
# exact in float32 (sklearn's trees compare float32) for links up to about 100 Mbit/s.
SCALE = {"upMbps": 1000, "downMbps": 1000, "ageS": 10}
for _f in ["upBytes", "upPayload", "downBytes", "downPayload", "segMeanDown", "segLastDown",
           "upRetransBytes", "downRetransBytes", "upStreamBytes", "downStreamBytes"] + [f"segBytes{i}" for i in range(8)]:
    SCALE[_f] = 1 / 16
def max1(js):
    """JS for max(v, 1) without a Math.max call (about 300 MIPS instructions each): `d` is a
    local of the exported inputs(). The same value as Python's max(v, 1) for every number."""
    return f"((d = {js}) > 1 ? d : 1)"


# Ratios a forest cannot form from single-feature splits, computed the same way in Python and
# in the exported JS (the same IEEE operations in the same order), then floored:
# (Python, JavaScript) per name.
DERIVED = {
    # throughput while segments download (kbit/s): the link's capacity
    "segKbps": (lambda f: f["segMeanDown"] * 8 / max(f["segMeanMs"], 1), f"f.segMeanDown * 8 / {max1('f.segMeanMs')}"),
    "segLastKbps": (lambda f: f["segLastDown"] * 8 / max(f["segLastMs"], 1), f"f.segLastDown * 8 / {max1('f.segLastMs')}"),
    # the application's average rate over the window (kbit/s): the bitrate once the buffer is full
    "streamKbps": (lambda f: f["downStreamBytes"] * 8 / f["window"] / 1000, "f.downStreamBytes * 8 / f.window / 1000"),
    # bytes per segment that started in the window, in units of 16
    "bytesPerSeg": (lambda f: f["downStreamBytes"] / max(f["segStarted"], 1) / 16, f"f.downStreamBytes / {max1('f.segStarted')} / 16"),
}


def _seg_rate(i):
    """Segment i's bytes over the time from its request to the next one's (kbit/s): its bitrate
    once the player's buffer is full and it requests one segment per segment duration, the
    link's throughput while it fills the buffer."""
    py = lambda f: f["segBytes"][i] * 8 / max(f["segAgoMs"][i] - f["segAgoMs"][i - 1], 1)
    js = f"f.segBytes[{i}] * 8 / {max1(f'f.segAgoMs[{i}] - f.segAgoMs[{i - 1}]')}"
    return py, js


for _i in range(1, 8):
    DERIVED[f"segRate{_i}"] = _seg_rate(_i)
FEATURES = SCALARS + [f"{h}{i}" for h, n in ARRAYS.items() for i in range(n)] + list(DERIVED)
GRID_TREES = [int(x) for x in os.environ.get("GRID_TREES", "5,10,20,40").split(",")]
GRID_DEPTH = [int(x) for x in os.environ.get("GRID_DEPTH", "4,6,8,12").split(",")]
MIN_PLAYING_S = 5
# Inputs from the runner's features, besides the replay's five, chosen by 5-fold
# cross-validation by session on the training sessions (not the held-out ones), rf-20x12 with
# the replay, averaged over two seeds, on 822 sessions: 10: 92.1 %, 15: 92.0 % (on 572:
# 91.6 % and 92.1 %), so the cheaper: each costs about 1,000 MIPS instructions per prediction.
TOP_K = int(os.environ.get("TOP_K", "10"))
# Sessions left out: the first six of the first collection run. Their player started after a
# fixed 1.5 s wait, before the runner (cold, six at once) had attached, so the hooks missed the
# video flow's first packets and every segment time and count is off (their startup came before
# the flow's first response ended). The lab now waits for the runner's ready line.
EXCLUDED = set(range(0, 6))
LABEL = os.environ.get("LABEL", "played")


# The player's buffer, replayed from the flow's requests alone: which segments played in the
# window, at what bitrate. The played resolution lags what is downloaded by the buffer (up to
# 20 s in the lab), and in a window with a switch the label turns on where the switch fell;
# a forest on per-window counts cannot place it, the replay can. Cross-validated (5-fold by
# session, training sessions only, rf-20x12, 822 sessions): 89.1 % without it (the 15 best of
# the runner's features), 92.1 % with it (its five inputs and the 10 best); with the true
# segment duration in place of the estimate, 93.5 %.
#
# Media segment k is the flow's response k (response 0 is the manifest). Segment 1 arrives at
# the end of response 1; segment k > 1 by the time the next request starts (the player asks
# for the next segment when one is in, or later when its buffer is full). Playback starts when
# segment 1 is in; each segment plays D ms, after the previous one, or when it arrives (a
# stall). D, the segment duration, is not on the wire: it is the interval between requests
# when the player waits on a full buffer, found as two equal consecutive intervals (within
# 3 %, over 0.5 s: downloads back to back differ with the segments' sizes) among the last 16
# segments; failing that, the median of the last three intervals. A new D replays the flow again
# from its first remembered segment; an estimate within 3 % of the one in use keeps it.
# Everything is incremental, because this runs for every flow every window on a router's CPU.
# The Python here and REPLAY_JS are the same integer arithmetic, step for step: the exported
# model must decide exactly as the trained one.
REPLAY = ["playTopKbps", "playMeanKbps", "playedMs", "stallMs", "segDurMs"]
KEEP = 32  # segments a flow's replay remembers (a ring; a power of two)
KBPS_CAP = 9_999_999  # keeps every input exact in float32
# every input a row can hold: the runner's features, then the replay's
INPUTS = FEATURES + REPLAY


def _close(a, b):
    return abs(a - b) * 100 <= 3 * b


def _median3(a, b, c):
    return max(min(a, b), min(max(a, b), c))


class Replay:
    def __init__(self):
        self.S = [-1] * KEEP  # request start, ms from the flow's first packet; -1: unknown
        self.B = [0] * KEEP  # bytes
        self.n = 0  # segments (responses) so far
        self.V = [0, 0, 0]  # the last 3 intervals between consecutive requests (a ring)
        self.vi = 0  # intervals so far
        self.reg = self.regK = 0  # the newest regular interval, and the segment it ends at
        self.D = self.pk = 0  # the segment duration in use; the next segment to schedule
        self.pe = -1  # when the last scheduled segment ends playing
        self.T = []  # the play start of each scheduled segment still of use, up to pk - 1

    def window(self, f):
        S, B, V, A, Y = self.S, self.B, self.V, f["segAgoMs"], f["segBytes"]
        end = math.floor(f["ageS"] * 1000)
        n0, n = self.n, self.n + f["segStarted"]
        self.n = n
        c = min(n - n0, 8)  # the window's new segments on its list (newest first)
        # those that fell off it are unknown; the one before them is complete now
        for k in range(max(n0, n - KEEP), n - c):
            S[k % KEEP], B[k % KEEP] = -1, 0
        if n0 > 0 and n - n0 < 8:
            B[(n0 - 1) % KEEP] = Y[n - n0]
        ps = S[(n - c - 1) % KEEP] if n - c - 1 >= 0 else -1
        for i in range(c - 1, -1, -1):  # oldest first
            k = n - 1 - i
            st = end - A[i]
            S[k % KEEP], B[k % KEEP] = st, Y[i]
            if ps >= 0 and k >= 2:
                z = st - ps
                x = V[(self.vi - 1) % 3] if self.vi > 0 else -1
                if x > 500 and _close(x, z):
                    self.reg, self.regK = (x + z) // 2, k
                V[self.vi % 3] = z
                self.vi += 1
            ps = st
        if self.reg > 0 and self.regK >= n - 16:
            D = self.reg
        elif self.vi >= 3:
            D = max(_median3(V[0], V[1], V[2]), 0)
        elif self.vi > 0:
            D = max(V[(self.vi - 1) % 3], 0)
        else:
            D = 0
        if self.D > 0 and _close(D, self.D):
            D = self.D
        if D != self.D:
            self.pk, self.pe, self.T = max(1, n - KEEP), -1, []
        self.D = D
        if D == 0 or f["segEndMs"][1] <= 0:
            return [0, 0, 0, 0, D]
        T, pk, pe = self.T, self.pk, self.pe
        while pk < n:
            a = f["segEndMs"][1] if pk == 1 else -1
            j = max(pk + 1, n - KEEP)
            while a < 0 and j < n:
                a = S[j % KEEP]
                j += 1
            if a < 0:
                break
            st = a if pe < 0 or a > pe else pe
            pe = st + D
            T.append(st)
            pk += 1
        self.pk, self.pe = pk, pe
        lo, k0 = end - 10000, pk - len(T)
        tot = wk = top = topo = stall = drop = 0
        prev = -1
        for i, st in enumerate(T):
            e = st + D
            if e <= lo:  # played before the window: only the last of these is kept (for the stall after it)
                drop, prev = i, e
                continue
            o = min(e, end) - max(st, lo)
            if o > 0:
                k = k0 + i
                kb = min(B[k % KEEP] * 8 // D, KBPS_CAP) if k >= n - KEEP else 0
                tot += o
                wk += kb * o
                if o > topo:
                    topo, top = o, kb
            if prev >= 0 and st > prev:
                stall += max(0, min(st, end) - max(prev, lo))
            prev = e
            if st >= end:  # the rest is in the buffer, after the window
                break
        del T[:drop]
        # still waiting for the next segment: a stall since the last one ended
        if pk < n and 0 <= prev < end:
            stall += end - max(prev, lo)
        return [top, wk // tot if tot else 0, tot, stall, D]


REPLAY_JS = """// The player's buffer, replayed from the flow's requests: see models/train.py's Replay, which
// this is step for step (integers only; `| 0` is floor for these non-negative values; `& MASK`
// is `% KEEP`). Locals, not m's fields, in the loops: each field access is a lookup, and each
// bytecode op costs about a hundred MIPS instructions.
function replay(m, f, x) {
  var S = m.S, B = m.B, V = m.V, A = f.segAgoMs, Y = f.segBytes, n0 = m.n, n = n0 + f.segStarted, end = (f.ageS * 1000) | 0,
    c = n - n0 < 8 ? n - n0 : 8, vi = m.vi, reg = m.reg, i, j, k, a, b, z, st, ps, D, pk, pe, T, e, o, kb, lo, k0,
    tot = 0, wk = 0, top = 0, topo = 0, stall = 0, drop, prev = -1;
  m.n = n;
  for (k = n - KEEP > n0 ? n - KEEP : n0; k < n - c; k++) { S[k & MASK] = -1; B[k & MASK] = 0; }
  if (n0 > 0 && n - n0 < 8) B[(n0 - 1) & MASK] = Y[n - n0];
  ps = n - c - 1 >= 0 ? S[(n - c - 1) & MASK] : -1;
  for (i = c - 1; i >= 0; i--) {
    k = n - 1 - i;
    st = end - A[i];
    S[k & MASK] = st; B[k & MASK] = Y[i];
    if (ps >= 0 && k >= 2) {
      z = st - ps;
      a = vi > 0 ? V[(vi - 1) % 3] : -1;
      if (a > 500 && (a > z ? a - z : z - a) * 100 <= 3 * z) { reg = ((a + z) / 2) | 0; m.regK = k; }
      V[vi % 3] = z;
      vi++;
    }
    ps = st;
  }
  m.vi = vi; m.reg = reg;
  if (reg > 0 && m.regK >= n - 16) D = reg;
  else if (vi >= 3) {
    // the median of the last three
    a = V[0]; b = V[1]; z = V[2];
    D = a < b ? (b < z ? b : a > z ? a : z) : (a < z ? a : b > z ? b : z);
    if (D < 0) D = 0;
  } else if (vi > 0) { D = V[(vi - 1) % 3]; if (D < 0) D = 0; }
  else D = 0;
  a = m.D;
  if (a > 0 && (D > a ? D - a : a - D) * 100 <= 3 * a) D = a;
  if (D !== a) { m.pk = n - KEEP > 1 ? n - KEEP : 1; m.pe = -1; m.T = []; m.t0 = 0; }
  m.D = D;
  x[NB + 4] = D;
  if (D === 0 || f.segEndMs[1] <= 0) return;
  // T from t0 on is the Python's T: what is dropped stays until it is worth a copy
  pk = m.pk; pe = m.pe; T = m.T; drop = m.t0;
  while (pk < n) {
    a = pk === 1 ? f.segEndMs[1] : -1;
    for (j = pk + 1 > n - KEEP ? pk + 1 : n - KEEP; a < 0 && j < n; j++) a = S[j & MASK];
    if (a < 0) break;
    st = pe < 0 || a > pe ? a : pe;
    pe = st + D;
    T.push(st);
    pk++;
  }
  m.pk = pk; m.pe = pe;
  lo = end - 10000; k0 = pk - T.length;
  for (i = drop; i < T.length; i++) {
    st = T[i]; e = st + D;
    if (e <= lo) { drop = i; prev = e; continue; }
    o = (e < end ? e : end) - (st > lo ? st : lo);
    if (o > 0) {
      k = k0 + i;
      kb = k >= n - KEEP ? (B[k & MASK] * 8 / D) | 0 : 0;
      if (kb > KBPS_CAP) kb = KBPS_CAP;
      tot += o; wk += kb * o;
      if (o > topo) { topo = o; top = kb; }
    }
    if (prev >= 0 && st > prev) { o = (st < end ? st : end) - (prev > lo ? prev : lo); if (o > 0) stall += o; }
    prev = e;
    if (st >= end) break;
  }
  if (drop > 3 * KEEP) { m.T = T.slice(drop); drop = 0; }
  m.t0 = drop;
  if (pk < n && prev >= 0 && prev < end) stall += end - (prev > lo ? prev : lo);
  x[NB] = top; x[NB + 1] = tot > 0 ? (wk / tot) | 0 : 0; x[NB + 2] = tot; x[NB + 3] = stall;
}"""


def value(feats, name):
    for h in ARRAYS:
        if name.startswith(h) and name[len(h):].isdigit():
            return feats[h][int(name[len(h):])]
    return feats[name]


def quantise(feats):
    # float multiplication then floor: the same IEEE operations as Math.floor(v * s) in JS
    return [math.floor(DERIVED[n][0](feats)) if n in DERIVED else math.floor(value(feats, n) * SCALE.get(n, 1)) for n in FEATURES]


def load(data):
    """The sessions and their windows, without the EXCLUDED ones; and how many were left out."""
    with open(os.path.join(data, "lab-sessions.jsonl")) as f:
        every = [json.loads(l) for l in f]
    sessions = {s["id"]: s for s in every if s["id"] not in EXCLUDED}
    with open(os.path.join(data, "lab-windows.jsonl")) as f:
        windows = [w for w in map(json.loads, f) if w["session"] in sessions]
    return sessions, windows, len(every) - len(sessions)


def top_share(session, w, window_s=10):
    """The share of the window's playing time that its most played resolution had, from the
    player's own log (None for sessions recorded before the lab kept it): the same overlap
    arithmetic as the lab's label. Near 0.5, the label turns on where in the window a switch
    fell."""
    log = session.get("player")
    if not log:
        return None
    end = w["time"] * 1000
    lo, hi = end - window_s * 1000, min(end, log["endMs"])
    played = {}
    for seg in log["segments"]:
        o = max(0, min(seg["playEndMs"], hi) - max(seg["playStartMs"], lo))
        if o > 0:
            played[seg["rung"]] = played.get(seg["rung"], 0) + o
    return max(played.values()) / sum(played.values()) if played else None


# Windows whose most played resolution has at least this share are "dominant", the others "mixed".
DOMINANT = 0.7


def export_tree(est, name, n):
    """One function per tree, without arguments: nested if/else over the closure's inputs x, h
    and g, each leaf adding its class probabilities to the closure's sums p0.. (only the non-zero
    ones: adding 0 changes nothing). A call costs about 230 MIPS instructions so; with the inputs
    and an array of sums as arguments it cost 2,500. No allocation: this runs for every flow
    every window."""
    t = est.tree_
    lines = [f"function {name}() {{"]

    def walk(node, depth):
        pad = "  " * depth
        if t.children_left[node] == -1:
            v = t.value[node][0]
            s = v.sum()
            prob = v / (s if s != 0 else 1.0)  # sklearn's predict_proba normalisation, in float64
            lines.append(pad + " ".join(f"p{j} += {float(a)!r};" for j, a in enumerate(prob) if a != 0))
            return
        # inputs are integers: x <= 12.5 is x <= 12
        j = int(t.feature[node])
        # this window's input, the previous window's, or the one before
        col = f"x[{j}]" if j < n else f"h[{j - n}]" if j < 2 * n else f"g[{j - 2 * n}]"
        lines.append(f"{pad}if ({col} <= {math.floor(t.threshold[node])}) {{")
        walk(t.children_left[node], depth + 1)
        lines.append(f"{pad}}} else {{")
        walk(t.children_right[node], depth + 1)
        lines.append(f"{pad}}}")

    walk(0, 1)
    lines.append("}")
    return "\n".join(lines)


# Features the runner computes as whole numbers (differences of counters): no rounding needed.
INTEGRAL = {"upPackets", "downPackets", "upRetrans", "downRetrans", "upGaps", "downGaps", "segStarted", "parallelFlows"} | {
    f"{h}{i}" for h in ARRAYS if h != "segBytes" for i in range(ARRAYS[h])
}


def js_input(n):
    """The JS for one integer input. Every feature is >= 0 and the inputs stay below 2^31, so
    `v | 0` (truncation, one bytecode op) equals Python's math.floor, at a fraction of the cost
    of a Math.floor call."""
    if n in DERIVED:
        return f"({DERIVED[n][1]}) | 0"
    ref = f"f.{n[:-1]}[{n[-1]}]" if n[:-1] in ARRAYS else f"f.{n}"
    if n in INTEGRAL:
        return ref
    return f"({ref} * {SCALE[n]!r}) | 0" if n in SCALE else f"{ref} | 0"


# Windows before this one a row holds: the played resolution lags the downloads by the buffer
# (up to 20 s in the lab). Cross-validated as above: 1: 86.9 %, 2: 88.0 %, 3: 87.5 %.
HISTORY = 2


def startup_index(ws):
    """The exported model's rule, over one flow's windows in order: the index of the window it
    answers the startup delay in, or None. That is the first window in which the flow's third
    response has begun (its second has ended: the first media segment is in, whatever the number
    of windows that took), if the flow has been seen since its start (no older than the windows
    seen). Before, a fixed third window answered long startups before they had happened."""
    for i, w in enumerate(ws):
        f = w["features"]
        if f["segEndMs"][2] > 0:
            return i if f["ageS"] <= (i + 1) * f["window"] else None
    return None


# Flows a model remembers at most: past this the memory starts again (the runner caps the JS heap).
HISTORY_FLOWS = 1024


def export_js(cls, meta, sel):
    """`sel`: the FEATURES index of each of the forest's inputs from the runner's features; the
    REPLAY inputs follow them. The forest sees 3 x (len(sel) + len(REPLAY)) columns: this
    window's inputs, then the same flow's previous window's, then the one before (zeros where
    the flow is younger)."""
    nb = len(sel)
    n = nb + len(REPLAY)
    classes = [CLASSES[int(c)] for c in cls.classes_]
    exprs = [js_input(FEATURES[i]) for i in sel]
    arrays = sorted({a for e in exprs for a in re.findall(r"\bf\.(\w+)\[", e)})
    exprs = [re.sub(r"\bf\.(\w+)\[", r"\1[", e) for e in exprs]
    out = [
        "/*",
        " * GENERATED by models/train.py: do not edit. A random forest trained on the traffic lab's",
        f" * windows ({meta}); see models/report.md.",
        " * predict(features, flow) -> { resolution, confidencePct, startupMs (once per flow, when its first media is in) }",
        " * It remembers each flow's last two windows and its requests by the runner's flow id, so calls must",
        " * come in the runner's order; without a flow id it answers from the window alone (no replay of",
        " * the player's buffer) and gives no startupMs.",
        " * All of it is in one closure: its names are local slots, not lookups in the global object.",
        " */",
        "var predict = (function () {",
        f"var CLASSES = {json.dumps(classes)};",
        f"var ZERO = [{', '.join(['0'] * n)}], H = {{}}, HN = 0;",
        "// the inputs of this window, the previous one and the one before, and the class sums:",
        "// the trees' only data, set by predict()",
        f"var x, h, g, {', '.join(f'p{j}' for j in range(len(classes)))};",
        "function inputs(f) {",
        # each f.<array> is a lookup among the features' names: once per array, into a local
        "  var " + ", ".join(["d"] + [f"{a} = f.{a}" for a in arrays]) + ";",
        # the replay's inputs are written into the last five: an array that keeps its length
        # stays a fast one
        "  return [\n    " + ",\n    ".join([f"{e} /* {FEATURES[i]} */" for e, i in zip(exprs, sel)] + ["0, 0, 0, 0, 0 /* the replay's */"]) + "\n  ];",
        "}",
        REPLAY_JS.replace("NB", str(nb)).replace("KEEP", str(KEEP)).replace("MASK", str(KEEP - 1)).replace("KBPS_CAP", str(KBPS_CAP)),
    ]
    trees = [f"r{i}" for i in range(len(cls.estimators_))]
    out += [export_tree(est, name, n) for est, name in zip(cls.estimators_, trees)]
    k = len(classes)
    out.append(
        """function predict(f, flow) {
  var b, best = 0, ask = false, m, out;
  x = inputs(f); h = ZERO; g = ZERO; PZ;
  // the runner's flow id: an integer key, far cheaper on MIPS than a string of the whole flow key
  if (flow && flow.id > 0) {
    m = H[flow.id];
    if (m === undefined) {
      if (++HN > LIMIT) { H = {}; HN = 1; }
      m = H[flow.id] = { h: ZERO, g: ZERO, seen: 0, done: false, S: [], B: [], n: 0, V: [0, 0, 0], vi: 0, reg: 0, regK: 0, D: 0, pk: 0, pe: -1, T: [], t0: 0 };
    }
    h = m.h; g = m.g;
    m.seen++;
    // the startup, once: when the flow's third response has begun (its first media is in), if
    // the flow was seen from its start
    ask = !m.done && f.segEndMs[2] > 0 && f.ageS <= m.seen * f.window;
    m.done = m.done || ask;
    replay(m, f, x);
    m.g = h; m.h = x;
  }
  // tree by tree, as scikit-learn sums: the floating-point results are the same
  CALLS
  // the mean, and the first class with the largest (as numpy's argmax), unrolled: p0.. are
  // variables, cheaper than an array's elements in every leaf
  NORMALISE
  b = p0;
  ARGMAX
  // whole numbers: printing a double costs a prediction's worth of instructions on MIPS. No
  // constant fields: each costs about 7,000 instructions to build and print, every flow and window
  out = { resolution: CLASSES[best], confidencePct: Math.floor(b * 100 + 0.5) };
  // the second response's end, from the flow's first packet (whole ms)
  if (ask) out.startupMs = f.segEndMs[1];
  return out;
}
return predict;
})();""".replace("PZ", "; ".join(f"p{j} = 0" for j in range(k)))
        .replace("NORMALISE", " ".join(f"p{j} /= {len(trees)};" for j in range(k)))
        .replace("ARGMAX", " ".join(f"if (p{j} > b) {{ best = {j}; b = p{j}; }}" for j in range(1, k))).replace("LIMIT", str(HISTORY_FLOWS))
        .replace("CALLS", " ".join(f"{t}();" for t in trees))
    )
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="models/data")
    ap.add_argument("--out", default="models/build")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sessions, windows, excluded = load(a.data)
    ids = np.array(sorted(sessions))
    split = GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=0)
    _, test_idx = next(split.split(ids, groups=ids))
    test_sessions = set(int(i) for i in ids[test_idx])

    # every window of each session's video flow, in order: the two before each one are what the
    # exported model remembers for the flow
    by_session = {}
    for w in sorted(windows, key=lambda w: (w["session"], w["window"])):
        by_session.setdefault(w["session"], []).append(w)
    at = {id(w): (ws, i) for ws in by_session.values() for i, w in enumerate(ws)}
    Q = {}
    for ws in by_session.values():
        r = Replay()
        for w in ws:
            Q[id(w)] = quantise(w["features"]) + r.window(w["features"])
    allq = np.array(list(Q.values()), dtype=np.float64)
    # exact in float32 (sklearn's trees) and in JS's `| 0` (non-negative, below 2^31)
    assert allq.min() >= 0 and allq.max() < 2**24, "an input is negative or does not fit float32 exactly"

    res = [w for w in windows if w["label"][LABEL] is not None and w["label"]["playingS"] >= MIN_PLAYING_S]
    y = np.array([w["label"][LABEL] for w in res])
    is_test = np.array([w["session"] in test_sessions for w in res])
    share = [top_share(sessions[w["session"]], w) for w in res]
    dominant = np.array([x is not None and x >= DOMINANT for x in share])
    mixed = np.array([x is not None and x < DOMINANT for x in share])
    # the flow's window the exported model answers the startup in, for the sessions whose video
    # flow the runner saw from its start
    at_startup = []
    for s_, ws in sorted(by_session.items()):
        k = startup_index(ws)
        if sessions[s_]["startupS"] is not None and ws[0]["first"] and k is not None:
            at_startup.append(ws[k])
    yS = np.array([sessions[w["session"]]["startupS"] for w in at_startup])
    # the answer: the second response's end
    sS = np.array([w["features"]["segEndMs"][1] / 1000 for w in at_startup])
    s_test = np.array([w["session"] in test_sessions for w in at_startup])

    def row(w, sel, depth=HISTORY):
        ws, i = at[id(w)]
        return sum(([Q[id(ws[i - d])][j] for j in sel] if i >= d else [0] * len(sel) for d in range(depth + 1)), [])

    # Feature selection on the training sessions only: every input costs about a thousand MIPS
    # instructions per prediction, so the forests get this window's TOP_K most important ones,
    # for every window a row holds.
    every = list(range(len(FEATURES)))
    probe = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0, n_jobs=1)
    probe.fit(np.array([row(w, every, 0) for w in res], dtype=np.float64)[~is_test], y[~is_test])
    sel = sorted(int(i) for i in np.argsort(-probe.feature_importances_, kind="stable")[:TOP_K])
    # the replay's inputs follow the runner's in every row
    cols = sel + list(range(len(FEATURES), len(FEATURES) + len(REPLAY)))
    print("inputs:", ", ".join(INPUTS[i] for i in cols))

    X = np.array([row(w, cols) for w in res], dtype=np.float64)

    grid = []
    for trees in GRID_TREES:
        for depth in GRID_DEPTH:
            name = f"rf-{trees}x{depth}"
            cls = RandomForestClassifier(n_estimators=trees, max_depth=depth, random_state=0, n_jobs=1)
            cls.fit(X[~is_test], y[~is_test])
            pred = cls.predict(X[is_test])
            # as the JS computes it, in seconds
            meta = f"{name}: {len(sessions)} sessions, {trees} trees of depth <= {depth}"
            with open(os.path.join(a.out, f"{name}.js"), "w") as f:
                f.write(export_js(cls, meta, sel))
            # every window of the held-out sessions' video flows, in order, with the trained
            # model's answers: the exported one, fed the same sequence, must give the same
            with open(os.path.join(a.out, f"{name}.check.jsonl"), "w") as f:
                for sid in sorted(test_sessions):
                    ws = by_session.get(sid, [])
                    if not ws:
                        continue
                    rows = np.array([row(w, cols) for w in ws], dtype=np.float64)
                    rp = cls.predict(rows)
                    flow = {"id": sid + 1, "proto": 6, "client": f"10.77.0.{sid % 250 + 2}", "clientPort": 40000 + sid, "server": "10.78.0.2", "serverPort": 8080, "vlan": 0}
                    k = startup_index(ws)
                    for i, (w, p) in enumerate(zip(ws, rp)):
                        rec = {"flow": flow, "features": w["features"], "resolution": CLASSES[int(p)]}
                        if i == k:
                            rec["startupMs"] = w["features"]["segEndMs"][1]
                        f.write(json.dumps(rec) + "\n")
            labels = list(range(len(CLASSES)))
            ok = pred == y[is_test]
            by_share = {k: {"windows": int(m[is_test].sum()), "accuracy": float(ok[m[is_test]].mean()) if m[is_test].any() else None}
                        for k, m in (("dominant", dominant), ("mixed", mixed))}
            grid.append({
                "name": name,
                "trees": trees,
                "depth": depth,
                "accuracy": float((pred == y[is_test]).mean()),
                "confusion": confusion_matrix(y[is_test], pred, labels=labels).tolist(),
                # held-out windows of sessions with the player's log, by the top resolution's share
                "accuracyByShare": by_share,
                "nodes": int(sum(e.tree_.node_count for e in cls.estimators_)),
            })
            print(f"{name}: accuracy {grid[-1]['accuracy']:.3f}, {grid[-1]['nodes']} nodes")
    summary = {
        "classes": CLASSES,
        "features": [INPUTS[i] for i in cols],
        # the startup answer is the same for every grid point
        "startupMaeS": float(np.abs(sS[s_test] - yS[s_test]).mean()),
        "startupMaxErrS": float(np.abs(sS[s_test] - yS[s_test]).max()),
        "sessions": {"train": len(ids) - len(test_sessions), "test": len(test_sessions)},
        "excludedSessions": excluded,
        "windows": {"train": int((~is_test).sum()), "test": int(is_test.sum())},
        "startupSessions": {"train": int((~s_test).sum()), "test": int(s_test.sum())},
        "classCounts": {"train": np.bincount(y[~is_test], minlength=5).tolist(), "test": np.bincount(y[is_test], minlength=5).tolist()},
        "baselineAccuracy": float((np.bincount(y[~is_test], minlength=5).argmax() == y[is_test]).mean()),
        "grid": grid,
    }
    with open(os.path.join(a.out, "grid.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
