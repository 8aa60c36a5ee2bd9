#!/usr/bin/python3
"""Trains the resolution model on every player's sessions and measures what carries over to a
player it has not seen (issue 20). Nothing here is exported or shipped: it answers whether the
runner's features, as they are, can tell real players' resolutions apart.

    /usr/bin/python3 models/players_train.py --data DIR [--data DIR ...]
        [--scripted models/data] [--out models/players.json]

DIRs are `npm run lab:collect -- --players …` runs; --scripted is the shipped model's training
set (the lab's scripted player). The same inputs as models/train.py (its runner features chosen
on the training rows, its player replay, two windows of history per flow) and the shipped grid
point's forest (TRAIN_TREES x TRAIN_DEPTH). A real player spreads a session over several
connections, and the runner keeps one record per connection: the rows are, per runner window,
the session's connection with the most downstream bytes (what a router that answers for "the
video flow" would use); each connection keeps its own history and replay, as in the runner.

Each player's training rows weigh the same in all (BALANCE=0: every row the same). Two
measures, both on windows with at least MIN_PLAYING_S played:
- held out: a quarter of the sessions of every player set aside (by session, never windows),
  the forest trained on the rest of every player; accuracy per player, transport and segment
  duration;
- leave one player out: trained on every other player's sessions, tested on all of that one's.
Startup: the shipped rule (the end of the flow's second response) on each session's main
connection, and a forest regressor on its first two windows, against the player's own startup.
Beside them, from the server's log rather than the router: how often the rung downloaded most
in the window (or some seconds before) is the rung played. --group tries the same on a
session's connections merged per window (merged()), which the runner does not do.
Environment: SPLIT_SEED (which quarter is held out; 0), SEG_ORDER=1 (an experiment: inputs from
the ring's segment sizes in order of size), AUDIO_SKIP=1 (an experiment: the replay on video
segments only), and BALANCE, TRAIN_TREES, TRAIN_DEPTH as below.
"""
import argparse
import json
import os
import re
import sys

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import GroupShuffleSplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as T  # noqa: E402  (the inputs, the replay and the startup rule, from one place)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_TREES = int(os.environ.get("TRAIN_TREES", "20"))
TRAIN_DEPTH = int(os.environ.get("TRAIN_DEPTH", "8"))
# The media set's segment names (models/lab/media.ts): representation i < 5 is ladder rung i, 5 the audio.
SEGMENT_PATH = re.compile(r"^/media/dash-\d+s/seg-(\d+)-\d+\.m4s$")
DOWNLOAD_LAGS_S = [0, 5, 10, 15, 20]
BALANCE = os.environ.get("BALANCE", "1") == "1"
# which quarter of each player's sessions is held out (another seed: another split)
SPLIT_SEED = int(os.environ.get("SPLIT_SEED", "0"))
# SEG_ORDER=1: an experiment, not in the runner or the exported model. Inputs from the order of
# the ring's segment sizes instead of their positions: with audio and video on one connection,
# position k holds audio in one window and video in the next, while the largest sizes are
# video's whatever the interleaving.
SEG_ORDER = os.environ.get("SEG_ORDER", "0") == "1"


def _seg_order_inputs():
    def nth(k):
        return lambda f: sorted(f["segBytes"], reverse=True)[k] / 16

    def big_rate(f):
        # the bitrate of the segments at least half the largest: video's, audio left out
        top = max(f["segBytes"])
        a = [i for i in range(1, 8) if top and f["segBytes"][i] * 2 >= top]
        return sum(f["segBytes"][i] * 8 / max(f["segAgoMs"][i] - f["segAgoMs"][i - 1], 1) for i in a) / len(a) if a else 0

    def big_share(f):
        # how much of the ring's bytes the large segments carry, in per mille
        top, tot = max(f["segBytes"]), sum(f["segBytes"])
        return sum(b for b in f["segBytes"] if b * 2 >= top) * 1000 / tot if tot else 0

    return [("segTop0", nth(0)), ("segTop1", nth(1)), ("segTop3", nth(3)), ("segBigRate", big_rate), ("segBigShare", big_share)]


if SEG_ORDER:
    for _name, _fn in _seg_order_inputs():
        T.DERIVED[_name] = (_fn, None)
        T.FEATURES.append(_name)
    T.INPUTS = T.FEATURES + T.REPLAY


# AUDIO_SKIP=1: an experiment, not in the runner or the exported model. The player replay on a
# connection's video segments only: a segment under half the ring's largest whose size recurs
# (two more within 15 %: audio's constant bitrate) is taken for audio and left out of the
# requests, intervals and bytes that the replay schedules as playback.
AUDIO_SKIP = os.environ.get("AUDIO_SKIP", "0") == "1"


def _audio(sizes, i):
    top, b = max(sizes), sizes[i]
    if not b or b * 2 >= top:
        return False
    return sum(1 for j, x in enumerate(sizes) if j != i and x and abs(x - b) * 100 <= 15 * b) >= 2


class VideoReplay(T.Replay):
    """T.Replay on the ring with audio's entries taken out (AUDIO_SKIP)."""

    def window(self, f):
        ago, size = f["segAgoMs"], f["segBytes"]
        n = len(ago)
        new = min(f["segStarted"], n)
        keep = [i for i in range(n) if ago[i] > 0 and not _audio(size, i)]
        g = dict(f)
        g["segAgoMs"] = [ago[i] for i in keep] + [0] * (n - len(keep))
        g["segBytes"] = [size[i] for i in keep] + [0] * (n - len(keep))
        g["segStarted"] = sum(1 for i in keep if i < new)
        return super().window(g)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def load_run(data, source, excluded=frozenset()):
    """Sessions keyed (source, id): runs number their sessions independently."""
    sessions = {}
    for s in read_jsonl(os.path.join(data, "lab-sessions.jsonl")):
        if s["id"] in excluded:
            continue
        s["key"] = (source, s["id"])
        s["player"] = s.get("playerName") or "scripted"
        s["transport"] = s.get("transport") or "http1.1"
        sessions[s["key"]] = s
    windows = []
    for w in read_jsonl(os.path.join(data, "lab-windows.jsonl")):
        key = (source, w["session"])
        if key in sessions:
            w["key"] = key
            windows.append(w)
    return sessions, windows


ADDITIVE = ["upPackets", "upBytes", "upPayload", "upMbps", "upRetrans", "upGaps", "downPackets", "downBytes", "downPayload",
            "downMbps", "downRetrans", "downGaps", "segStarted", "upRetransBytes", "downRetransBytes", "upStreamBytes", "downStreamBytes"]


def merged(fs):
    """One record for a session's connections in one runner window, from theirs: what a runner
    that keys its features by (client, server) instead of by connection would compute from the
    same snapshots. Counts and histograms add; the segment ring is the newest FW_SEGMENTS of
    all the connections' rings, the early segment ends the first ones of all, measured from the
    oldest connection's first packet."""
    if len(fs) == 1:
        return fs[0]
    g = dict(fs[0])
    for k in ADDITIVE:
        g[k] = sum(f[k] for f in fs)
    for h in ("upSizeHist", "upIatHist", "downSizeHist", "downIatHist"):
        g[h] = [sum(x) for x in zip(*(f[h] for f in fs))]
    g["upMeanSize"] = g["upBytes"] / g["upPackets"] if g["upPackets"] else 0
    g["downMeanSize"] = g["downBytes"] / g["downPackets"] if g["downPackets"] else 0
    ring = sorted((f["segAgoMs"][i], f["segBytes"][i]) for f in fs for i in range(len(f["segAgoMs"])) if f["segAgoMs"][i] > 0)
    n = len(fs[0]["segAgoMs"])
    ring = ring[:n] + [(0, 0)] * max(0, n - len(ring))
    g["segAgoMs"] = [a for a, _ in ring]
    g["segBytes"] = [b for _, b in ring]
    started = g["segStarted"]
    g["segMeanDown"] = sum(f["segMeanDown"] * f["segStarted"] for f in fs) / started if started else 0
    g["segMeanMs"] = sum(f["segMeanMs"] * f["segStarted"] for f in fs) / started if started else 0
    newest = min((f for f in fs if f["segAgoMs"][0] > 0), key=lambda f: f["segAgoMs"][0], default=fs[0])
    g["segLastDown"], g["segLastMs"] = newest["segLastDown"], newest["segLastMs"]
    age = max(f["ageS"] for f in fs)
    g["ageS"] = age
    ends = sorted(e + round((age - f["ageS"]) * 1000) for f in fs for e in f["segEndMs"] if e > 0)
    m = len(fs[0]["segEndMs"])
    g["segEndMs"] = (ends + [0] * m)[:m]
    return g


def group_windows(windows):
    """Each session's connections merged per runner window (see merged())."""
    by = {}
    for w in windows:
        by.setdefault((w["key"], w["window"]), []).append(w)
    out = []
    for (key, window), ws in by.items():
        ws.sort(key=lambda w: w.get("flow", 0))
        out.append({**ws[0], "flow": 0, "first": any(w.get("first", True) for w in ws), "features": merged([w["features"] for w in ws])})
    return out


def rows_of(sessions, windows):
    """Per connection, in window order: the quantised inputs with the replay's, and for each
    runner window of a session its main connection's window."""
    flows = {}
    for w in sorted(windows, key=lambda w: (w["key"], w.get("flow", 0), w["window"])):
        flows.setdefault((w["key"], w.get("flow", 0)), []).append(w)
    Q, at = {}, {}
    for ws in flows.values():
        r = VideoReplay() if AUDIO_SKIP else T.Replay()
        for i, w in enumerate(ws):
            Q[id(w)] = T.quantise(w["features"]) + r.window(w["features"])
            at[id(w)] = (ws, i)
    main = {}
    for w in windows:
        k = (w["key"], w["window"])
        if w["features"]["downBytes"] > main.get(k, (None, -1))[1]:
            main[k] = (w, w["features"]["downBytes"])
    mains = [w for w, _ in main.values()]
    return Q, at, flows, mains


def pct(a):
    if not a or a["accuracy"] is None:
        return "–"
    return f"{a['accuracy'] * 100:.1f} % ({a['windows']} w" + (f", {a['sessions']} s)" if "sessions" in a else ")")


def section(r):
    """The model report's real-player section (models/report.py embeds it) from this script's JSON."""
    players = sorted(r["sessions"])
    sec = lambda x: "–" if not x or x.get("maeS") is None else f"{x['maeS']:.2f} s ({x['sessions']})"
    lines = [
        "",
        "## Real players (issue 20)",
        "",
        f"GENERATED by `models/players_train.py` ({r['model']}) from {', '.join(f'`{d}`' for d in r['runs'])}:",
        "sessions per player: " + ", ".join(f"{p} {r['sessions'][p]}" for p in players) + ".",
        "Windows (w) of each session's connection with the most downstream bytes, sessions (s) in brackets.",
        "",
        "| player | held out, retrained on every player | leave this player out | startup error, shipped rule | startup error, learned, held out | startup error, learned, player left out |",
        "|---|---|---|---|---|---|",
    ]
    for p in players:
        cells = [pct(r["heldOut"]["player"].get(p)), pct(r["leaveOnePlayerOut"].get(p))]
        cells += [sec(r["startupRuleMaeS"].get(p)), sec(r["startupLearnedMaeS"]["heldOut"].get(p)), sec(r["startupLearnedMaeS"]["leaveOnePlayerOut"].get(p))]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines += ["", "| held out, by transport | accuracy | | held out, by segment duration | accuracy |", "|---|---|---|---|---|"]
    tr, sg = list(r["heldOut"]["transport"].items()), list(r["heldOut"]["segmentS"].items())
    for i in range(max(len(tr), len(sg))):
        a = f"| {tr[i][0]} | {pct(tr[i][1])} |" if i < len(tr) else "| | |"
        b = f" {sg[i][0]} | {pct(sg[i][1])} |" if i < len(sg) else " | |"
        lines.append(a + " |" + b)
    lines += ["", "Inputs of the retrained forest: " + ", ".join(r["heldOut"]["inputs"]) + "."]
    d = r.get("downloadedRungAccuracy") or {}
    if d:
        lags = list(next(iter(d.values())))
        lines += [
            "",
            "What the downloads alone say (the server's log, not the router): the rung of the most video",
            "bytes sent in the window, or that many seconds before it, against the rung played.",
            "",
            "| player | " + " | ".join(f"{x} s before" if x != "0" else "same window" for x in lags) + " |",
            "|---|" + "---|" * len(lags),
        ]
        for p in sorted(d):
            lines.append(f"| {p} | " + " | ".join(pct(d[p][x]) for x in lags) + " |")
    lines += [
        "",
        "What a real service adds that the lab still lacks: QUIC (there is no HTTP/3 server here, and",
        "the browser is run with QUIC off), the services' own ABR logic, segment sizes and ladders,",
        "DRM, ads, and CDNs that move a session between servers. None of these figures is from a",
        "real service.",
    ]
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", action="append", required=True, help="a lab:collect --players run (repeatable)")
    ap.add_argument("--scripted", default=os.path.join(ROOT, "models", "data"), help="the scripted player's training set ('' for none)")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "players.json"))
    ap.add_argument("--group", action="store_true", help="merge a session's connections per window first (merged()): a runner change not made yet")
    a = ap.parse_args()

    sessions, windows = {}, []
    runs = ([(a.scripted, T.EXCLUDED)] if a.scripted else []) + [(d, frozenset()) for d in a.data]
    for source, (d, excluded) in enumerate(runs):
        for f in ("lab-sessions.jsonl", "lab-windows.jsonl"):
            if not os.path.isfile(os.path.join(d, f)):
                sys.exit(f"players_train: {d} has no {f} (give a lab:collect --out directory)")
        s, w = load_run(d, source, excluded)
        sessions.update(s)
        windows.extend(w)
    if a.group:
        windows = group_windows(windows)
    Q, at, flows, mains = rows_of(sessions, windows)
    res = [w for w in mains if w["label"][T.LABEL] is not None and w["label"]["playingS"] >= T.MIN_PLAYING_S]
    if not res:
        sys.exit("players_train: no labelled windows in the runs given")
    y = np.array([w["label"][T.LABEL] for w in res])
    player = np.array([sessions[w["key"]]["player"] for w in res])
    players = sorted(set(player))

    def row(w, sel, depth=T.HISTORY):
        ws, i = at[id(w)]
        return sum(([Q[id(ws[i - d])][j] for j in sel] if i >= d else [0] * len(sel) for d in range(depth + 1)), [])

    def weights(train):
        """Every player's training rows weigh the same in all: the scripted player's 800-odd
        sessions would otherwise decide every split."""
        if not BALANCE:
            return None
        w = np.zeros(len(res))
        for p in players:
            m = train & (player == p)
            if m.any():
                w[m] = 1.0 / m.sum()
        return w[train] * train.sum()

    def fit(train):
        """The shipped recipe on the rows `train` selects: TOP_K runner features by a probe
        forest's importance on those rows, the replay's inputs, the shipped grid point."""
        every = list(range(len(T.FEATURES)))
        probe = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0, n_jobs=1)
        probe.fit(np.array([row(w, every, 0) for w, t in zip(res, train) if t], dtype=np.float64), y[train])
        sel = sorted(int(i) for i in np.argsort(-probe.feature_importances_, kind="stable")[: T.TOP_K])
        cols = sel + list(range(len(T.FEATURES), len(T.INPUTS)))
        X = np.array([row(w, cols) for w in res], dtype=np.float64)
        cls = RandomForestClassifier(n_estimators=TRAIN_TREES, max_depth=TRAIN_DEPTH, random_state=0, n_jobs=1)
        cls.fit(X[train], y[train], sample_weight=weights(train))
        return cls.predict(X), [T.INPUTS[i] for i in cols]

    def acc(ok, m):
        return {"windows": int(m.sum()), "sessions": len({res[i]["key"] for i in np.flatnonzero(m)}),
                "accuracy": round(float(ok[m].mean()), 4) if m.any() else None}

    # held out: a quarter of each player's sessions
    keys = np.array([f"{k[0]}:{k[1]}" for k in sessions])
    test_keys = set()
    for p in players:
        ks = np.array([f"{k[0]}:{k[1]}" for k, s in sessions.items() if s["player"] == p])
        if len(ks) < 4:
            continue  # too few to hold any out: all train
        _, ti = next(GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=SPLIT_SEED).split(ks, groups=ks))
        test_keys |= set(ks[ti])
    is_test = np.array([f"{w['key'][0]}:{w['key'][1]}" in test_keys for w in res])
    pred, inputs = fit(~is_test)
    ok = pred == y
    transport = np.array([f"{sessions[w['key']]['player']} {sessions[w['key']]['transport']}" for w in res])
    seg = np.array([f"{sessions[w['key']]['player']} {sessions[w['key']]['segS']} s" for w in res])
    held = {
        "inputs": inputs,
        "all": acc(ok, is_test),
        "player": {p: acc(ok, is_test & (player == p)) for p in players},
        "transport": {t: acc(ok, is_test & (transport == t)) for t in sorted(set(transport))},
        "segmentS": {t: acc(ok, is_test & (seg == t)) for t in sorted(set(seg), key=lambda x: (x.split()[0], float(x.split()[1])))},
    }
    # leave one player out
    lopo = {}
    for p in players if len(players) > 1 else []:
        out = player == p
        pred_p, _ = fit(~out)
        lopo[p] = acc(pred_p == y, out)

    # each session's main connection over the whole session: the one with the most downstream
    # bytes (the first of equals, in the runner's flow order)
    main_flow, most = {}, {}
    for (key, _), ws in flows.items():
        b = sum(w["features"]["downBytes"] for w in ws)
        if b > most.get(key, -1):
            main_flow[key], most[key] = ws, b

    # startup: the shipped rule on each session's main connection
    startup = {}
    for p in players:
        errs = []
        for key, s in sessions.items():
            if s["player"] != p or s.get("startupS") is None or key not in main_flow:
                continue
            ws = main_flow[key]
            k = T.startup_index(ws)
            if ws[0].get("first", True) and k is not None:
                errs.append(abs(ws[k]["features"]["segEndMs"][1] / 1000 - s["startupS"]))
        startup[p] = {"sessions": len(errs), "maeS": round(float(np.mean(errs)), 3) if errs else None}

    # startup, learned: a forest regressor on the main connection's first two windows (all of
    # the runner's inputs and the replay's), trained as the classifier is, held out and leaving
    # one player out. Not a rule the exported model has: whether one could carry over.
    st = []
    for key, s in sessions.items():
        if s.get("startupS") is None or key not in main_flow:
            continue
        ws = main_flow[key]
        if ws[0].get("first", True):
            second = Q[id(ws[1])] if len(ws) > 1 else [0] * len(T.INPUTS)
            st.append((s, Q[id(ws[0])] + second))
    learned = {"heldOut": {}, "leaveOnePlayerOut": {}}
    if st:
        Xs = np.array([x for _, x in st], dtype=np.float64)
        ys = np.array([s["startupS"] for s, _ in st])
        ps = np.array([s["player"] for s, _ in st])
        ts = np.array([f"{s['key'][0]}:{s['key'][1]}" in test_keys for s, _ in st])

        def mae(train, test):
            if not train.any() or not test.any():
                return None
            reg = RandomForestRegressor(n_estimators=50, max_depth=8, random_state=0, n_jobs=1)
            reg.fit(Xs[train], ys[train])
            return {"sessions": int(test.sum()), "maeS": round(float(np.abs(reg.predict(Xs[test]) - ys[test]).mean()), 3)}

        for p in players:
            learned["heldOut"][p] = mae(~ts, ts & (ps == p))
            if len(players) > 1:
                learned["leaveOnePlayerOut"][p] = mae(ps != p, ps == p)

    # What the downloads alone say: the rung of the most video bytes the server sent in the
    # window, or L s before it (the player's buffer), against the rung played. From the server's
    # log, not from the router: an upper bound for any answer that identifies the downloaded
    # rung exactly and has to guess the buffer.
    downloaded = {}
    for p in players:
        row_ = {}
        for lag in DOWNLOAD_LAGS_S:
            hits = n = 0
            for w in res:
                s = sessions[w["key"]]
                if s["player"] != p or "responses" not in s:
                    continue
                end = w["time"] * 1000 - lag * 1000
                got = {}
                for r in s["responses"]:
                    m = SEGMENT_PATH.match(r["path"])
                    if m and int(m.group(1)) < len(T.CLASSES) and end - w["features"]["window"] * 1000 < r["end"] <= end:
                        got[int(m.group(1))] = got.get(int(m.group(1)), 0) + r["bytes"]
                if got:
                    n += 1
                    hits += max(got, key=lambda k: (got[k], k)) == w["label"][T.LABEL]
            row_[str(lag)] = {"windows": n, "accuracy": round(hits / n, 4) if n else None}
        if any(v["windows"] for v in row_.values()):
            downloaded[p] = row_

    report = {
        "model": f"rf-{TRAIN_TREES}x{TRAIN_DEPTH}, retrained on every player (not shipped)" + (", connections merged per session (not in the runner)" if a.group else ""),
        # as the project names them, so the file does not depend on where it was made
        "runs": [os.path.relpath(os.path.abspath(d), ROOT) for d, _ in runs],
        "sessions": {p: sum(1 for s in sessions.values() if s["player"] == p) for p in players},
        "minPlayingS": T.MIN_PLAYING_S,
        "heldOut": held,
        "leaveOnePlayerOut": lopo,
        "startupRuleMaeS": startup,
        "startupLearnedMaeS": learned,
        "downloadedRungAccuracy": downloaded,
    }
    tmp = f"{a.out}.tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    os.replace(tmp, a.out)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
