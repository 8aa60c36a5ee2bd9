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
# Inputs, chosen by 5-fold cross-validation by session on the 310 training sessions (not the
# held-out ones), rf-20x12 averaged over seeds: 10: 87.3 %, 15: 88.0 %, 20: 87.9 %, 25: 88.0 %,
# 30: 87.8 %.
TOP_K = int(os.environ.get("TOP_K", "15"))
# Sessions left out: the first six of the first collection run. Their player started after a
# fixed 1.5 s wait, before the runner (cold, six at once) had attached, so the hooks missed the
# video flow's first packets and every segment time and count is off (their startup came before
# the flow's first response ended). The lab now waits for the runner's ready line.
EXCLUDED = set(range(0, 6))
LABEL = os.environ.get("LABEL", "played")


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


def export_tree(est, name, kind, n):
    """One JS function: nested ifs over the integer inputs; a classifier leaf adds its class
    probabilities to p (only the non-zero ones: adding 0 changes nothing), a regressor leaf
    returns its value. No allocation per call: this runs for every flow every window."""
    t = est.tree_
    lines = [f"function {name}({'x, h, g, p' if kind == 'cls' else 'x'}) {{"]

    def leaf(node, pad):
        v = t.value[node][0]
        if kind == "cls":
            s = v.sum()
            prob = v / (s if s != 0 else 1.0)  # sklearn's predict_proba normalisation, in float64
            adds = [f"p[{j}] += {float(a)!r};" for j, a in enumerate(prob) if a != 0]
            lines.append(pad + " ".join(adds + ["return;"]))
        else:
            lines.append(f"{pad}return {float(v[0])!r};")

    def walk(node, depth):
        pad = "  " * depth
        if t.children_left[node] == -1:
            leaf(node, pad)
            return
        # inputs are integers: x <= 12.5 is x <= 12
        j = int(t.feature[node])
        # this window's input, the previous window's, or the one before
        col = f"x[{j}]" if j < n else f"h[{j - n}]" if j < 2 * n else f"g[{j - 2 * n}]"
        lines.append(f"{pad}if ({col} <= {math.floor(t.threshold[node])}) {{")
        walk(t.children_left[node], depth + 1)
        lines.append(f"{pad}}}")
        walk(t.children_right[node], depth)

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
    """`sel`: the FEATURES index of each of the forest's base inputs; it sees 3 x len(sel)
    columns: this window's inputs, then the same flow's previous window's, then the one before
    (zeros where the flow is younger)."""
    n = len(sel)
    classes = [CLASSES[int(c)] for c in cls.classes_]
    out = [
        "/*",
        " * GENERATED by models/train.py: do not edit. A random forest trained on the traffic lab's",
        f" * windows ({meta}); see models/report.md.",
        " * predict(features, flow) -> { resolution, confidencePct, startupMs (once per flow, when its first media is in) }",
        " * It remembers each flow's last two windows by the runner's flow id, so calls must come in the",
        " * runner's order; without a flow id it answers from the window alone and gives no startupMs.",
        " * All of it is in one closure: its names are local slots, not lookups in the global object.",
        " */",
        "var predict = (function () {",
        f"var CLASSES = {json.dumps(classes)};",
        f"var ZERO = [{', '.join(['0'] * n)}], H = {{}}, HN = 0;",
        "function inputs(f) {",
        "  var d;",
        "  return [\n    " + ",\n    ".join(f"{js_input(FEATURES[i])} /* {FEATURES[i]} */" for i in sel) + "\n  ];",
        "}",
    ]
    names = []
    for i, est in enumerate(cls.estimators_):
        out.append(export_tree(est, f"r{i}", "cls", n))
        names.append(f"r{i}")
    zeros = ", ".join(["0"] * len(classes))
    out.append(
        """function predict(f, flow) {
  var x = inputs(f), p = [ZEROS], i, best = 0, h = ZERO, g = ZERO, seen = 0, done = false, ask = false, m, out;
  // the runner's flow id: an integer key, far cheaper on MIPS than a string of the whole flow key
  if (flow && flow.id > 0) {
    m = H[flow.id];
    if (m !== undefined) { h = m[0]; g = m[1]; seen = m[2]; done = m[3]; }
    else if (++HN > LIMIT) { H = {}; HN = 1; }
    seen++;
    // the startup, once: when the flow's third response has begun (its first media is in), if
    // the flow was seen from its start
    ask = !done && f.segEndMs[2] > 0 && f.ageS <= seen * f.window;
    H[flow.id] = [x, h, seen, done || ask];
  }
  // tree by tree, as scikit-learn sums: the floating-point results are the same; one call each,
  // written out (a loop over an array of them costs 600 MIPS instructions more per tree)
  CALLS
  for (i = 0; i < p.length; i++) p[i] /= TREES;
  for (i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
  // whole numbers: printing a double costs a prediction's worth of instructions on MIPS. No
  // constant fields: each costs about 7,000 instructions to build and print, every flow and window
  out = { resolution: CLASSES[best], confidencePct: Math.floor(p[best] * 100 + 0.5) };
  // the second response's end, from the flow's first packet (whole ms)
  if (ask) out.startupMs = f.segEndMs[1];
  return out;
}
return predict;
})();""".replace("ZEROS", zeros).replace("LIMIT", str(HISTORY_FLOWS)).replace("TREES", str(len(names)))
        .replace("CALLS", " ".join(f"{n}(x, h, g, p);" for n in names))
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
    Q = {id(w): quantise(w["features"]) for w in windows}
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
    print("inputs:", ", ".join(FEATURES[i] for i in sel))

    X = np.array([row(w, sel) for w in res], dtype=np.float64)

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
                    rows = np.array([row(w, sel) for w in ws], dtype=np.float64)
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
        "features": [FEATURES[i] for i in sel],
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
