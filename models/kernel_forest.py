#!/usr/bin/python3
"""Trains the in-kernel model and exports it to BPF C.

    /usr/bin/python3 models/kernel_forest.py [--data models/data] [--trees 20] [--depth 8]

The same lab windows, label and held-out sessions as models/train.py (GroupShuffleSplit on the
session id, seed 0), but only inputs the BPF program can compute itself when a flow's window
ends (bpf/include/fw_forest.h: KFEATURES below, in its order, with the same integer arithmetic):
counter differences over the window, the segment ring, and ratios by 32-bit division. Nothing
the runner adds across flows (parallelFlows) and no replay of the player's buffer: the kernel
keeps only the selected inputs of a flow's last two windows.

A forest compares float32 inputs with float64 thresholds; every input is an integer below 2^24,
so `x <= t` is `x <= floor(t)` and the exported forest takes the same path as the trained one.
A leaf holds its class probabilities in units of 1/65535 (rounded); the kernel adds them over
the trees and takes the first largest sum. That can differ from sklearn's float sums only on a
near tie: this script counts such windows over every row and the test suite checks every
held-out window through the kernel (test/kernel/forest.test.ts).

Writes bpf/include/fw_forest_model.h, models/kernel-forest.check.jsonl (the held-out windows'
input rows with the trained forest's answers) and models/kernel-forest.json (accuracy, size).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GroupShuffleSplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as T  # noqa: E402  (the lab's data, label and split)

CAP = 2**24 - 1  # every input is exact in float32
U32 = 2**32 - 1
SCALE = 65535  # a leaf's probability, in units of 1/SCALE
HISTORY = 2  # windows before this one a row holds (as the QuickJS model)


def q16(v):
    """Bytes in units of 16 (as the QuickJS model), capped."""
    return min(int(v) >> 4, CAP)


def cap(v):
    return min(int(v), CAP)


MS_MAX = U32 // 15625  # the kernel's times in ms stop at 274 s


def ms_of_ns(ns):
    """floor(ns / 1e6) the way the kernel computes it without 64-bit division: (ns >> 6) / 15625,
    the first capped to 32 bits (274 s)."""
    return min(ns >> 6, U32) // 15625


# The in-kernel inputs, in fw_forest.h's enum order (FW_KF_<name>).
DIRS = ("up", "down")
KFEATURES = [f"{d}{n}" for d in DIRS for n in (
    "Packets", "Bytes", "Payload", "MeanSize", "Retrans", "Gaps", "RetransBytes", "StreamBytes",
    *(f"SizeHist{i}" for i in range(8)), *(f"IatHist{i}" for i in range(8)))]
KFEATURES += ["segStarted", "segMeanDown", "segMeanMs", "segLastDown", "segLastMs", "ageDs"]
KFEATURES += [f"segEndMs{i}" for i in range(4)] + [f"segBytes{i}" for i in range(8)] + [f"segAgoMs{i}" for i in range(8)]
KFEATURES += ["segKbps", "segLastKbps", "bytesPerSeg"] + [f"segRate{i}" for i in range(1, 8)]


def kfeatures(f):
    """The kernel's inputs from one window of the runner's features (models/data). The runner's
    values are the kernel's counters and times, so the same formulas apply; sums and means are
    undone to the integers the kernel adds. Times are the runner's read time where the kernel
    has its window's end."""
    o = {}
    for d in DIRS:
        p, b = int(f[d + "Packets"]), int(f[d + "Bytes"])
        o[d + "Packets"] = cap(p)
        o[d + "Bytes"] = q16(b)
        o[d + "Payload"] = q16(f[d + "Payload"])
        o[d + "MeanSize"] = cap(min(b, U32) // min(p, U32)) if p else 0
        o[d + "Retrans"] = cap(f[d + "Retrans"])
        o[d + "Gaps"] = cap(f[d + "Gaps"])
        o[d + "RetransBytes"] = q16(f[d + "RetransBytes"])
        o[d + "StreamBytes"] = q16(f[d + "StreamBytes"])
        for h in ("SizeHist", "IatHist"):
            for i in range(8):
                o[f"{d}{h}{i}"] = cap(f[d + h][i])
    k = min(int(f["segStarted"]), 8)
    o["segStarted"] = cap(f["segStarted"])
    down_sum = round(f["segMeanDown"] * k)
    ns_sum = round(f["segMeanMs"] * k * 1e6)
    o["segMeanDown"] = q16(min(down_sum, U32) // k) if k else 0
    o["segMeanMs"] = ms_of_ns(ns_sum) // k if k else 0
    o["segLastDown"] = q16(f["segLastDown"])
    o["segLastMs"] = ms_of_ns(round(f["segLastMs"] * 1e6))
    # (ns >> 8) capped to 32 bits, / 390625: ages stop at 18 min
    o["ageDs"] = min(math.floor(f["ageS"] * 10), U32 // 390625)
    for i in range(4):
        o[f"segEndMs{i}"] = min(int(f["segEndMs"][i]), MS_MAX)
    for i in range(8):
        o[f"segBytes{i}"] = q16(f["segBytes"][i])
    for i in range(8):
        o[f"segAgoMs{i}"] = min(int(f["segAgoMs"][i]), MS_MAX)
    # ratios: a 32-bit unsigned division, the divisor at least 1 (kbit/s from bytes/16 and ms)
    o["segKbps"] = cap(o["segMeanDown"] * 128 // max(o["segMeanMs"], 1))
    o["segLastKbps"] = cap(o["segLastDown"] * 128 // max(o["segLastMs"], 1))
    o["bytesPerSeg"] = cap(o["downStreamBytes"] // max(o["segStarted"], 1))
    for i in range(1, 8):
        o[f"segRate{i}"] = cap(o[f"segBytes{i}"] * 128 // max(o[f"segAgoMs{i}"] - o[f"segAgoMs{i - 1}"], 1))
    assert list(o) == KFEATURES
    return [o[n] for n in KFEATURES]


def flatten(cls, n_inputs):
    """Every tree in preorder (a node's left child follows it), leaves' probabilities apart:
    nodes (input, threshold, right, is_leaf), leaf rows, and each tree's root."""
    nodes, leaves, roots, seen = [], [], [], {}
    for est in cls.estimators_:
        t = est.tree_
        roots.append(len(nodes))

        def walk(i):
            at = len(nodes)
            if t.children_left[i] == -1:
                v = t.value[i][0]
                p = v / (v.sum() if v.sum() else 1.0)
                row = [0] * len(T.CLASSES)
                for c, pc in zip(cls.classes_, p):
                    row[int(c)] = int(round(float(pc) * SCALE))
                # pure leaves and other repeats share one row
                if tuple(row) not in seen:
                    seen[tuple(row)] = len(leaves)
                    leaves.append(row)
                nodes.append([0, 0, seen[tuple(row)], 1])
                return
            j = int(t.feature[i])
            assert j < n_inputs
            nodes.append([j, math.floor(t.threshold[i]), 0, 0])
            walk(t.children_left[i])
            nodes[at][2] = len(nodes)
            walk(t.children_right[i])

        walk(0)
    return nodes, leaves, roots


def evaluate(nodes, leaves, roots, row):
    """The kernel's arithmetic: class sums in units of 1/SCALE, the first largest wins."""
    acc = [0] * len(T.CLASSES)
    for r in roots:
        n = r
        while not nodes[n][3]:
            j, thr, right, _ = nodes[n]
            n = n + 1 if row[j] <= thr else right
        for c, v in enumerate(leaves[nodes[n][2]]):
            acc[c] += v
    best = 0
    for c in range(1, len(acc)):
        if acc[c] > acc[best]:
            best = c
    return best, acc[best] * 100 // (len(roots) * SCALE)


def header(meta, sel, nodes, leaves, roots):
    n_in = len(sel) * (HISTORY + 1)
    out = [
        "/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */",
        "/*",
        " * GENERATED by models/kernel_forest.py: do not edit. The in-kernel model, a random forest",
        f" * trained on the traffic lab's windows ({meta}); see models/report.md.",
        " * A row holds the selected inputs of this window, then of the flow's previous window and",
        " * the one before (zeros where the flow is younger).",
        " */",
        "#ifndef FW_FOREST_MODEL_H",
        "#define FW_FOREST_MODEL_H",
        "",
        f"#define FW_FOREST_TREES {len(roots)}",
        f"#define FW_FOREST_DEPTH {max_depth(nodes, roots)}",
        f"#define FW_FOREST_SEL {len(sel)}",
        f"#define FW_FOREST_HISTORY {HISTORY}",
        f"#define FW_FOREST_INPUTS {n_in}",
        f"#define FW_FOREST_NODES {len(nodes)}",
        f"#define FW_FOREST_LEAVES {len(leaves)}",
        f"#define FW_FOREST_SCALE {SCALE}",
        "",
        "#define FW_FOREST_SEL_LIST \\",
        "\t" + ", ".join(f"FW_KF_{KFEATURES[i]}" for i in sel),
        "#define FW_FOREST_ROOTS \\",
        "\t" + ", ".join(str(r) for r in roots),
        "/* { threshold, right child, input, is a leaf }; a leaf's right child is its row of leaves */",
        "#define FW_FOREST_NODE_LIST \\",
    ]
    for k in range(0, len(nodes), 6):
        chunk = nodes[k:k + 6]
        out.append("\t" + " ".join(f"{{ {thr}, {right}, {j}, {leaf} }}," for j, thr, right, leaf in chunk) + " \\")
    out.append("")
    out.append("#define FW_FOREST_LEAF_LIST \\")
    for k in range(0, len(leaves), 4):
        out.append("\t" + " ".join("{ " + ", ".join(map(str, r)) + " }," for r in leaves[k:k + 4]) + " \\")
    out += ["", "#endif", ""]
    return "\n".join(out)


def max_depth(nodes, roots):
    deepest = 0
    for r in roots:
        stack = [(r, 0)]
        while stack:
            n, d = stack.pop()
            if nodes[n][3]:
                deepest = max(deepest, d)
            else:
                stack += [(n + 1, d + 1), (nodes[n][2], d + 1)]
    return deepest


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(here, "data"))
    ap.add_argument("--trees", type=int, default=20)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=15)
    ap.add_argument("--header", default=os.path.join(here, "..", "bpf", "include", "fw_forest_model.h"))
    ap.add_argument("--check", default=os.path.join(here, "kernel-forest.check.jsonl"))
    ap.add_argument("--summary", default=os.path.join(here, "kernel-forest.json"))
    a = ap.parse_args()

    sessions, windows, _ = T.load(a.data)
    ids = np.array(sorted(sessions))
    _, test_idx = next(GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=0).split(ids, groups=ids))
    test_sessions = set(int(i) for i in ids[test_idx])
    by_session = {}
    for w in sorted(windows, key=lambda w: (w["session"], w["window"])):
        by_session.setdefault(w["session"], []).append(w)
    at = {id(w): (ws, i) for ws in by_session.values() for i, w in enumerate(ws)}
    K = {id(w): kfeatures(w["features"]) for w in windows}

    def row(w, sel, history=HISTORY):
        ws, i = at[id(w)]
        return sum(([K[id(ws[i - d])][j] for j in sel] if i >= d else [0] * len(sel) for d in range(history + 1)), [])

    res = [w for w in windows if w["label"][T.LABEL] is not None and w["label"]["playingS"] >= T.MIN_PLAYING_S]
    y = np.array([w["label"][T.LABEL] for w in res])
    is_test = np.array([w["session"] in test_sessions for w in res])
    # inputs chosen on the training sessions only, as train.py does
    every = list(range(len(KFEATURES)))
    probe = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0, n_jobs=1)
    probe.fit(np.array([row(w, every, 0) for w in res], dtype=np.float64)[~is_test], y[~is_test])
    sel = sorted(int(i) for i in np.argsort(-probe.feature_importances_, kind="stable")[:a.top_k])
    print("inputs:", ", ".join(KFEATURES[i] for i in sel))
    X = np.array([row(w, sel) for w in res], dtype=np.float64)
    cls = RandomForestClassifier(n_estimators=a.trees, max_depth=a.depth, random_state=0, n_jobs=1)
    cls.fit(X[~is_test], y[~is_test])
    pred = cls.predict(X[is_test])
    accuracy = float((pred == y[is_test]).mean())

    nodes, leaves, roots = flatten(cls, X.shape[1])
    # the kernel's integer sums against sklearn's float ones, on every row there is
    allrows = [row(w, sel) for ws in by_session.values() for w in ws]
    sk = cls.predict(np.array(allrows, dtype=np.float64))
    differ = sum(1 for r, p in zip(allrows, sk) if evaluate(nodes, leaves, roots, r)[0] != int(p))
    meta = f"{len(sessions)} sessions, {a.trees} trees of depth <= {a.depth}, {len(sel)} inputs x {HISTORY + 1} windows"
    with open(a.header, "w") as f:
        f.write(header(meta, sel, nodes, leaves, roots))
    n_check = 0
    with open(a.check, "w") as f:
        for sid in sorted(test_sessions):
            ws = by_session.get(sid, [])
            if not ws:
                continue
            rows = [row(w, sel) for w in ws]
            for w, r, p in zip(ws, rows, cls.predict(np.array(rows, dtype=np.float64))):
                f.write(json.dumps({"session": sid, "window": w["window"], "row": r, "resolution": int(p),
                                    "confidencePct": evaluate(nodes, leaves, roots, r)[1]}, separators=(",", ":")) + "\n")
                n_check += 1
    summary = {
        "classes": T.CLASSES,
        "trees": a.trees,
        "depth": a.depth,
        "inputs": [KFEATURES[i] for i in sel],
        "history": HISTORY,
        "accuracy": accuracy,
        "windows": {"train": int((~is_test).sum()), "test": int(is_test.sum())},
        "nodes": len(nodes),
        "leaves": len(leaves),
        # the forest's share of the object's .rodata (8-byte nodes, 2-byte probabilities)
        "tableBytes": len(nodes) * 8 + len(leaves) * 2 * len(T.CLASSES),
        "rowsWhereIntegerSumsDiffer": differ,
        "rows": len(allrows),
        "checkRows": n_check,
    }
    with open(a.summary, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(f"accuracy {accuracy:.3f} on {int(is_test.sum())} held-out windows; {len(nodes)} nodes, {len(leaves)} leaves; "
          f"integer sums differ from sklearn's on {differ} of {len(allrows)} rows")


if __name__ == "__main__":
    main()
