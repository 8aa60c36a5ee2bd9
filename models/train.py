#!/usr/bin/python3
"""Trains the video-quality models on the lab's windows and exports them to JavaScript.

    /usr/bin/python3 models/train.py [--data models/data] [--out models/build]

Debian's python3-sklearn (1.2) and numpy. Two models, both random forests on the features the
runner computes for a flow in a 10 s window (fwrunner --record in the lab):
- resolution: the class of the resolution played in the window (240p ... 1080p), on windows
  with at least 5 s of playback;
- startup delay (seconds) of a session, answered in the video flow's third window from its
  first three (a startup longer than a window shows only in a later one).
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
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
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
# Ratios a forest cannot form from single-feature splits, computed the same way in Python and
# in the exported JS (the same IEEE operations in the same order), then floored:
# (Python, JavaScript) per name.
DERIVED = {
    # throughput while segments download (kbit/s): the link's capacity
    "segKbps": (lambda f: f["segMeanDown"] * 8 / max(f["segMeanMs"], 1), "f.segMeanDown * 8 / Math.max(f.segMeanMs, 1)"),
    "segLastKbps": (lambda f: f["segLastDown"] * 8 / max(f["segLastMs"], 1), "f.segLastDown * 8 / Math.max(f.segLastMs, 1)"),
    # the application's average rate over the window (kbit/s): the bitrate once the buffer is full
    "streamKbps": (lambda f: f["downStreamBytes"] * 8 / f["window"] / 1000, "f.downStreamBytes * 8 / f.window / 1000"),
    # bytes per segment that started in the window, in units of 16
    "bytesPerSeg": (lambda f: f["downStreamBytes"] / max(f["segStarted"], 1) / 16, "f.downStreamBytes / Math.max(f.segStarted, 1) / 16"),
}


def _seg_rate(i):
    """Segment i's bytes over the time from its request to the next one's (kbit/s): its bitrate
    once the player's buffer is full and it requests one segment per segment duration, the
    link's throughput while it fills the buffer."""
    py = lambda f: f["segBytes"][i] * 8 / max(f["segAgoMs"][i] - f["segAgoMs"][i - 1], 1)
    js = f"f.segBytes[{i}] * 8 / Math.max(f.segAgoMs[{i}] - f.segAgoMs[{i - 1}], 1)"
    return py, js


for _i in range(1, 8):
    DERIVED[f"segRate{_i}"] = _seg_rate(_i)
FEATURES = SCALARS + [f"{h}{i}" for h, n in ARRAYS.items() for i in range(n)] + list(DERIVED)
GRID_TREES = [int(x) for x in os.environ.get("GRID_TREES", "5,10,20,40").split(",")]
GRID_DEPTH = [int(x) for x in os.environ.get("GRID_DEPTH", "4,6,8,12").split(",")]
MIN_PLAYING_S = 5
TOP_K = int(os.environ.get("TOP_K", "10"))
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
    with open(os.path.join(data, "lab-sessions.jsonl")) as f:
        sessions = {s["id"]: s for s in map(json.loads, f)}
    with open(os.path.join(data, "lab-windows.jsonl")) as f:
        windows = [json.loads(l) for l in f]
    return sessions, windows


def export_tree(est, name, kind, n):
    """One JS function: nested ifs over the integer inputs; a classifier leaf adds its class
    probabilities to p (only the non-zero ones: adding 0 changes nothing), a regressor leaf
    returns its value. No allocation per call: this runs for every flow every window."""
    t = est.tree_
    lines = [f"function {name}(x, h, g{', p' if kind == 'cls' else ''}) {{"]

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
# (up to 20 s in the lab).
HISTORY = 2


# The window of a flow the startup delay is answered in: the third, so a startup of up to
# about 30 s has shown (the player's first media has arrived) when the model answers. An
# exploratory 5-fold check by session on the lab's data: 0.44 s mean error, 0.64 s in the second.
STARTUP_WINDOW = int(os.environ.get("STARTUP_WINDOW", "3"))
assert 1 <= STARTUP_WINDOW <= HISTORY + 1, "the startup is answered from the windows a row holds"


def startup_window(feats, seen):
    """The exported model's rule: it answers the startup delay in the flow's STARTUP_WINDOW-th
    window seen, when the flow is no older than that many windows (seen from its start)."""
    return seen == STARTUP_WINDOW and feats["ageS"] <= STARTUP_WINDOW * feats["window"]


# Flows a model remembers at most: past this the memory starts again (the runner caps the JS heap).
HISTORY_FLOWS = 1024


def export_js(cls, reg, meta, sel):
    """`sel`: the FEATURES index of each base input. The forests see 3 x len(sel) columns: this
    window's inputs, then the same flow's previous window's, then the one before (zeros where the
    flow is younger)."""
    n = len(sel)
    classes = [CLASSES[int(c)] for c in cls.classes_]
    out = [
        "/*",
        " * GENERATED by models/train.py: do not edit. A random forest trained on the traffic lab's",
        f" * windows ({meta}); see models/report.md.",
        f" * predict(features, flow) -> {{ resolution, confidencePct, startupMs (in a flow's window {STARTUP_WINDOW}) }}",
        " * It remembers each flow's last two windows (the runner passes the flow), so calls must come",
        " * in the runner's order; without a flow it answers from the window alone and gives no startupMs.",
        " */",
        f"var CLASSES = {json.dumps(classes)};",
        f"var ZERO = [{', '.join(['0'] * n)}], H = {{}}, HN = 0;",
        "function inputs(f) {",
        "  return [\n    " + ",\n    ".join(f"{js_input(FEATURES[i])} /* {FEATURES[i]} */" for i in sel) + "\n  ];",
        "}",
    ]
    names = []
    for i, est in enumerate(cls.estimators_):
        out.append(export_tree(est, f"r{i}", "cls", n))
        names.append(f"r{i}")
    out.append(f"var RES = [{', '.join(names)}];")
    names = []
    for i, est in enumerate(reg.estimators_):
        out.append(export_tree(est, f"s{i}", "reg", n))
        names.append(f"s{i}")
    out.append(f"var START = [{', '.join(names)}];")
    zeros = ", ".join(["0"] * len(classes))
    out.append(
        """function predict(f, flow) {
  var x = inputs(f), p = [ZEROS], i, best = 0, s = 0, h = ZERO, g = ZERO, seen = 0, m;
  if (flow) {
    var k = flow.proto + ' ' + flow.client + ' ' + flow.clientPort + ' ' + flow.server + ' ' + flow.serverPort + ' ' + flow.vlan;
    m = H[k];
    if (m !== undefined) { h = m[0]; g = m[1]; seen = m[2]; }
    else if (++HN > LIMIT) { H = {}; HN = 1; }
    H[k] = [x, h, ++seen];
  }
  // tree by tree, as scikit-learn sums: the floating-point results are the same
  for (i = 0; i < RES.length; i++) RES[i](x, h, g, p);
  for (i = 0; i < p.length; i++) p[i] /= RES.length;
  for (i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
  // whole numbers: printing a double costs a prediction's worth of instructions on MIPS
  var out = { model: 'video-rf', resolution: CLASSES[best], confidencePct: Math.floor(p[best] * 100 + 0.5) };
  // the startup, once the flow is old enough for it to have shown, if it was seen from its start
  if (seen === STARTUP && f.ageS <= STARTUP * f.window) {
    for (i = 0; i < START.length; i++) s += START[i](x, h, g);
    out.startupMs = Math.floor((s / START.length) * 1000 + 0.5);
  }
  return out;
}""".replace("ZEROS", zeros).replace("LIMIT", str(HISTORY_FLOWS)).replace("STARTUP", str(STARTUP_WINDOW))
    )
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="models/data")
    ap.add_argument("--out", default="models/build")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sessions, windows = load(a.data)
    ids = np.array(sorted(sessions))
    split = GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=0)
    train_idx, test_idx = next(split.split(ids, groups=ids))
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
    # the flow's window the exported model answers the startup in
    K = STARTUP_WINDOW
    at_startup = [
        ws[K - 1] for s_, ws in sorted(by_session.items())
        if sessions[s_]["startupS"] is not None and len(ws) >= K and ws[0]["first"] and startup_window(ws[K - 1]["features"], K)
    ]
    yS = np.array([sessions[w["session"]]["startupS"] for w in at_startup])
    s_test = np.array([w["session"] in test_sessions for w in at_startup])

    def row(w, sel, depth=HISTORY):
        ws, i = at[id(w)]
        return sum(([Q[id(ws[i - d])][j] for j in sel] if i >= d else [0] * len(sel) for d in range(depth + 1)), [])

    # Feature selection on the training sessions only: every input costs about a thousand MIPS
    # instructions per prediction, so the forests get the TOP_K most important ones of each task
    # (resolution: this window's; startup: summed over the flow's windows it sees), for every window kept.
    every = list(range(len(FEATURES)))
    probe = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0, n_jobs=1)
    probe.fit(np.array([row(w, every, 0) for w in res], dtype=np.float64)[~is_test], y[~is_test])
    probe_s = RandomForestRegressor(n_estimators=100, max_depth=8, random_state=0, n_jobs=1)
    probe_s.fit(np.array([row(w, every, K - 1) for w in at_startup], dtype=np.float64)[~s_test], yS[~s_test])
    top = lambda imp: [int(i) for i in np.argsort(-imp, kind="stable")[:TOP_K]]
    sel = sorted(set(top(probe.feature_importances_)) | set(top(probe_s.feature_importances_.reshape(K, -1).sum(0))))
    print("inputs:", ", ".join(FEATURES[i] for i in sel))

    X = np.array([row(w, sel) for w in res], dtype=np.float64)
    XS = np.array([row(w, sel) for w in at_startup], dtype=np.float64)

    grid = []
    for trees in GRID_TREES:
        for depth in GRID_DEPTH:
            name = f"rf-{trees}x{depth}"
            cls = RandomForestClassifier(n_estimators=trees, max_depth=depth, random_state=0, n_jobs=1)
            cls.fit(X[~is_test], y[~is_test])
            reg = RandomForestRegressor(n_estimators=trees, max_depth=depth, random_state=0, n_jobs=1)
            reg.fit(XS[~s_test], yS[~s_test])
            pred = cls.predict(X[is_test])
            spred = reg.predict(XS[s_test])
            meta = f"{name}: {len(sessions)} sessions, {trees} trees of depth <= {depth}"
            with open(os.path.join(a.out, f"{name}.js"), "w") as f:
                f.write(export_js(cls, reg, meta, sel))
            # every window of the held-out sessions' video flows, in order, with the trained
            # model's answers: the exported one, fed the same sequence, must give the same
            with open(os.path.join(a.out, f"{name}.check.jsonl"), "w") as f:
                for sid in sorted(test_sessions):
                    ws = by_session.get(sid, [])
                    if not ws:
                        continue
                    rows = np.array([row(w, sel) for w in ws], dtype=np.float64)
                    rp = cls.predict(rows)
                    flow = {"proto": 6, "client": f"10.77.0.{sid % 250 + 2}", "clientPort": 40000 + sid, "server": "10.78.0.2", "serverPort": 8080, "vlan": 0}
                    for i, (w, p) in enumerate(zip(ws, rp)):
                        rec = {"flow": flow, "features": w["features"], "resolution": CLASSES[int(p)]}
                        if startup_window(w["features"], i + 1):
                            # rounded as the JS rounds: floor(v * 1000 + 0.5), the same double operations
                            rec["startupMs"] = math.floor(float(reg.predict(rows[i:i + 1])[0]) * 1000 + 0.5)
                        f.write(json.dumps(rec) + "\n")
            labels = list(range(len(CLASSES)))
            grid.append({
                "name": name,
                "trees": trees,
                "depth": depth,
                "accuracy": float((pred == y[is_test]).mean()),
                "confusion": confusion_matrix(y[is_test], pred, labels=labels).tolist(),
                "startupMaeS": float(np.abs(spred - yS[s_test]).mean()),
                "startupMaxErrS": float(np.abs(spred - yS[s_test]).max()),
                "nodes": int(sum(e.tree_.node_count for e in cls.estimators_) + sum(e.tree_.node_count for e in reg.estimators_)),
            })
            print(f"{name}: accuracy {grid[-1]['accuracy']:.3f}, startup MAE {grid[-1]['startupMaeS']:.2f} s, {grid[-1]['nodes']} nodes")
    summary = {
        "classes": CLASSES,
        "features": [FEATURES[i] for i in sel],
        "sessions": {"train": len(ids) - len(test_sessions), "test": len(test_sessions)},
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
