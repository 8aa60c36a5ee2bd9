#!/usr/bin/python3
"""Writes models/report.md and models/tradeoff.png from models/build/{grid,measured}.json, and
its in-kernel section (and models/kernel-tradeoff.png) from models/kernel-forest.json
(models/kernel_forest.py) and models/kernel-platforms.json (npm run bench:forest-platforms).

    /usr/bin/python3 models/report.py [--build models/build] [--out models]

Run by `npm run model:make` after training and measuring; Debian's python3-matplotlib.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import players_train  # noqa: E402  (its report section)


def kernel_section(out, best):
    """The in-kernel model against the QuickJS model (docs/in-kernel-model.md): lines and a plot."""
    with open(os.path.join(out, "kernel-forest.json")) as f:
        k = json.load(f)
    path = os.path.join(out, "kernel-platforms.json")
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            rows = json.load(f)["rows"]
    over = lambda c: c["ns"] - c["emptyNs"]  # noqa: E731
    kernel_only = lambda r: f"{r['runnerPerFlowKernelOnly']:,}" if "runnerPerFlowKernelOnly" in r else "not measured"  # noqa: E731
    lines = [
        "",
        "## In the kernel or in QuickJS",
        "",
        f"The in-kernel model (`bpf/include/fw_forest_model.h`, {k['trees']} trees of depth <= {k['depth']},"
        f" {len(k['inputs'])} inputs x {k['history'] + 1} windows, from `models/kernel_forest.py`) against the shipped",
        "QuickJS model, on the same held-out sessions. Per platform: `npm run bench:forest-platforms`",
        "boots each virtual router with both models under `-icount shift=0` (one guest instruction is one",
        "guest nanosecond), JIT on, and measures both in the same boot. Docs: docs/in-kernel-model.md.",
        "",
        "| | in the kernel | QuickJS |",
        "|---|---|---|",
        f"| held-out accuracy | {k['accuracy'] * 100:.1f} % | {best['accuracy'] * 100:.1f} % |",
        f"| export equals the trained forest | {k['checkRows'] - k['rowsWhereIntegerSumsDiffer']}/{k['checkRows']} (integer sums; the BPF program's answers are checked by test/kernel/forest.test.ts) | {best['checked'] - best['mismatches']}/{best['checked']} |",
        f"| model data | {k['tableBytes']:,} bytes of forest ({k['nodes']:,} nodes, {k['leaves']} leaves) | {best['bytecodeBytes']:,} bytes of bytecode |",
    ]
    for r in rows:
        lines.append(
            f"| {r['target']}: guest instructions per prediction | {over(r['bench']['forestPrediction']):,} | {r['quickjsPrediction']:,} |"
        )
    for r in rows:
        lines.append(
            f"| {r['target']}: an existing flow's packet, instructions over an empty program | {over(r['bench']['existingFlow']):,} (docs/platforms.md has the object without the model) | - |"
        )
    for r in rows:
        lines.append(
            f"| {r['target']}: load at boot, the LAN port's programs and the window end (ms of guest clock = M instructions) | {r['readyLoadMs']} ({r['bench']['jited']} of {r['bench']['programs']} programs of two ports JIT-compiled) | - |"
        )
    for r in rows:
        lines.append(
            f"| {r['target']}: the runner's window per flow, instructions (kernel: its counts and the kernel's answer; QuickJS: features and output) | {kernel_only(r)} | {r['runnerPerFlow']:,} + the prediction |"
        )
    lab = os.path.join(out, "kernel-lab.json")
    if os.path.exists(lab):
        with open(lab) as f:
            la = json.load(f)
        cell = lambda x: f"{x['accuracy'] * 100:.1f} % ({x['windows']} windows)" if x["accuracy"] is not None else "-"  # noqa: E731
        lines.append(
            f"| accuracy on {la['sessions']} fresh lab sessions (`npm run lab:collect -- --in-kernel`): the kernel's own windows, the runner's windows | {cell(la['kernel'])} | {cell(la['quickjs'])} |"
        )
    if rows:
        lines.append(f"| bytes in the image ({rows[0]['target']}) | {rows[0]['objectBytes']:,} (the BPF object with the forest) | {rows[0]['bytecodeBytes']:,} (bytecode) |")
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        targets = [r["target"] for r in rows]
        xs = range(len(targets))
        for i, (label, vals) in enumerate(
            [("in the kernel", [over(r["bench"]["forestPrediction"]) for r in rows]), ("QuickJS", [r["quickjsPrediction"] for r in rows])]
        ):
            bars = axes[0].bar([x + (i - 0.5) * 0.4 for x in xs], vals, 0.4, label=label)
            axes[0].bar_label(bars, fontsize=7)
        axes[0].set_xticks(list(xs), targets)
        axes[0].set_yscale("log")
        axes[0].set_ylabel("guest instructions per prediction (log)")
        axes[0].legend()
        axes[0].grid(axis="y", alpha=0.3)
        for label, acc, size in [("in the kernel", k["accuracy"], k["tableBytes"]), ("QuickJS", best["accuracy"], best["bytecodeBytes"])]:
            axes[1].scatter([size / 1000], [acc * 100], s=60, label=label)
        axes[1].set_xlabel("model bytes (KB: forest data / bytecode)")
        axes[1].set_ylabel("held-out resolution accuracy (%)")
        axes[1].legend()
        axes[1].grid(alpha=0.3)
        fig.suptitle("In-kernel forest against the QuickJS model: cost per prediction by router, accuracy against size")
        fig.tight_layout()
        fig.savefig(os.path.join(out, "kernel-tradeoff.png"), dpi=110, metadata={"Software": None})
        lines += [
            "",
            "On MIPS the runner's window includes the guest kernel's emulation of the floating-point instructions of",
            "Debian's hard-float userland; OpenWrt's mips_24kc userland is soft-float (docs/platforms.md).",
            "",
            "![in-kernel against QuickJS](kernel-tradeoff.png)",
        ]
        ratios = {r["target"]: r["quickjsPrediction"] / over(r["bench"]["forestPrediction"]) for r in rows}
        pk = {r["target"]: over(r["bench"]["forestPrediction"]) / over(r["bench"]["existingFlow"]) for r in rows}
        share = {r["target"]: r["quickjsPrediction"] / (r["quickjsPrediction"] + r["runnerPerFlow"]) for r in rows}
        # a flow's window on the router: the kernel alone against features plus a QuickJS prediction
        # rows measured before bench:forest-platforms measured the counts-only window have no such figure
        whole = {r["target"]: (r["quickjsPrediction"] + r["runnerPerFlow"]) / (r["runnerPerFlowKernelOnly"] + over(r["bench"]["forestPrediction"])) for r in rows if "runnerPerFlowKernelOnly" in r}
        lines += [
            "",
            "**Which placement.** One prediction in the kernel costs "
            + ", ".join(f"{ratios[t]:.0f} times ({t})" for t in ratios)
            + f" fewer guest instructions than one in QuickJS, for {(best['accuracy'] - k['accuracy']) * 100:.1f} points of held-out accuracy."
            + " The prediction is not the runner's whole cost with QuickJS: the runner also computes every flow's features each"
            + " window, and the QuickJS prediction is "
            + ", ".join(f"{share[t] * 100:.0f} % ({t})" for t in share)
            + " of a flow's window. With `kernel` the runner computes no features (it prints each flow's counts and the kernel's"
            + " answer)"
            + (", and a flow's window, prediction included, costs " + ", ".join(f"{whole[t]:.0f} times ({t})" for t in whole) + " less" if whole else " (not measured yet: rerun `npm run bench:forest-platforms`)")
            + ". So a router whose CPU has room (ARM64, filogic class) keeps `quickjs`, the more accurate model;"
            + " a MIPS or ARMv7 router that watches many flows at once uses `kernel`, where a prediction costs"
            + f" what {min(pk.values()):.0f} to {max(pk.values()):.0f} packets of an existing flow cost the packet program"
            + " (docs/in-kernel-model.md).",
        ]
    else:
        lines += ["", "No per-platform figures yet: run `npm run bench:forest-platforms`."]
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="models/build")
    ap.add_argument("--out", default="models")
    a = ap.parse_args()
    with open(os.path.join(a.build, "grid.json")) as f:
        g = json.load(f)
    with open(os.path.join(a.build, "measured.json")) as f:
        m = json.load(f)
    with open(os.path.join(a.out, "data", "lab-sessions.jsonl")) as f:
        sessions = [json.loads(l) for l in f]
    pts = m["points"]
    best = next(p for p in pts if p["name"] == m["chosen"])
    budget = m["budget"]
    classes = g["classes"]

    # the trade-off plot: accuracy against bytecode size and against instructions
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label, limit in [
        (axes[0], "bytecodeBytes", "bytecode (KB)", budget["bytecodeBytes"] / 1000),
        (axes[1], "instructions", "MIPS instructions per prediction (thousands)", budget["instructions"] / 1000),
    ]:
        for trees in sorted({p["trees"] for p in pts}):
            row = sorted((p for p in pts if p["trees"] == trees), key=lambda p: p["depth"])
            ax.plot([p[key] / 1000 for p in row], [p["accuracy"] * 100 for p in row], marker="o", label=f"{trees} trees (depth {', '.join(str(p['depth']) for p in row)})")
        ax.axvline(limit, color="grey", linestyle="--", linewidth=1)
        ax.axhline(90, color="grey", linestyle=":", linewidth=1)
        ax.scatter([best[key] / 1000], [best["accuracy"] * 100], s=160, facecolors="none", edgecolors="red", label="shipped")
        ax.set_xscale("log")
        ax.set_xlabel(label + " (log)")
        ax.set_ylabel("held-out resolution accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Random forest size against accuracy and cost (dashed: budget, dotted: 90 % goal)")
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "tradeoff.png"), dpi=110, metadata={"Software": None})

    kinds = {}
    for s in sessions:
        kinds[s["trace"]["kind"]] = kinds.get(s["trace"]["kind"], 0) + 1
    bg = {}
    for s in sessions:
        bg[s["background"]] = bg.get(s["background"], 0) + 1
    lines = [
        "# Video-quality model: report",
        "",
        "GENERATED by `npm run model:make` (models/make-model.ts, models/train.py, models/report.py)",
        "from the traffic lab's data in `models/data/` (`npm run lab:collect`). Do not edit.",
        "",
        "## Data",
        "",
        f"- {len(sessions)} lab sessions of {sessions[0]['seconds']} s: traces {', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))};"
        f" background {', '.join(f'{k} {v}' for k, v in sorted(bg.items()))}; segments of 2, 4 or 6 s.",
        f"- Split by session (GroupShuffleSplit): {g['sessions']['train']} training sessions, {g['sessions']['test']} held out.",
        f"- Resolution task: 10 s windows of the video flow with at least 5 s of playback: {g['windows']['train']} training, {g['windows']['test']} held-out windows.",
        f"  Class counts (240p..1080p): training {g['classCounts']['train']}, held out {g['classCounts']['test']}.",
        f"  Always answering the most common training class scores {g['baselineAccuracy'] * 100:.1f} %.",
        f"- Left out: {g['excludedSessions']} sessions, the first six of the first collection run: their player started before the runner had attached, so the flow's first packets were missed.",
        f"- Startup-delay task: one answer per video flow, in the first window in which its third response has begun (its second, the first media segment, has ended): the end of that response, the same for every grid point (a forest's correction did worse in cross-validation on the training sessions; see models/train.py). {g['startupSessions']['train']} training, {g['startupSessions']['test']} held-out sessions.",
        "",
        "## Shipped model",
        "",
        f"`models/video-quality.js` = **{best['name']}** ({best['trees']} trees, depth <= {best['depth']}), the most accurate grid point within the budget",
        f"(< {budget['bytecodeBytes']:,} bytes of bytecode, < {budget['instructions']:,} MIPS instructions per prediction) whose export is exact.",
        "",
        "| measure | goal | reached |",
        "|---|---|---|",
        f"| resolution-class accuracy, held-out sessions | >= 90 % | {best['accuracy'] * 100:.1f} % |",
        f"| startup-delay mean absolute error | < 1 s | {g['startupMaeS']:.3f} s (max {g['startupMaxErrS']:.3f} s) |",
        f"| QuickJS bytecode (big-endian MIPS) | < 100 KB | {best['bytecodeBytes']:,} bytes |",
        f"| MIPS instructions per prediction | < 150,000 | {best['instructions']:,} |",
        f"| exported = trained on held-out inputs | all equal | {best['checked'] - best['mismatches']}/{best['checked']} |",
        "",
        "Confusion matrix of the shipped model on held-out windows (rows: played, columns: predicted):",
        "",
        "| | " + " | ".join(classes) + " |",
        "|---" * (len(classes) + 1) + "|",
    ]
    conf = next(p for p in g["grid"] if p["name"] == best["name"])["confusion"]
    for c, row in zip(classes, conf):
        lines.append(f"| **{c}** | " + " | ".join(str(v) for v in row) + " |")
    share = next(p for p in g["grid"] if p["name"] == best["name"]).get("accuracyByShare")
    if share and share["dominant"]["windows"] and share["mixed"]["windows"]:
        d, x = share["dominant"], share["mixed"]
        lines += [
            "",
            "Where the errors are: in windows that play two resolutions for similar times, the label",
            "turns on where in the window the switch fell. On the held-out windows of the sessions that",
            "kept the player's log, by the share of playing time of the window's most played resolution:",
            "",
            "| windows | held-out windows | accuracy |",
            "|---|---|---|",
            f"| one resolution plays >= 70 % of the time | {d['windows']} | {d['accuracy'] * 100:.1f} % |",
            f"| mixed (< 70 %) | {x['windows']} | {x['accuracy'] * 100:.1f} % |",
        ]
    lines += [
        "",
        "## Trade-off over model sizes",
        "",
        "![accuracy against bytecode size and instructions](tradeoff.png)",
        "",
        "| model | trees | depth | accuracy | nodes | bytecode (bytes) | MIPS instructions / prediction | export exact |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in pts:
        node = next(x for x in g["grid"] if x["name"] == p["name"])
        lines.append(
            f"| {p['name']} | {p['trees']} | {p['depth']} | {p['accuracy'] * 100:.1f} % | {node['nodes']} | {p['bytecodeBytes']:,} | {p['instructions']:,} | {p['checked'] - p['mismatches']}/{p['checked']} |"
        )
    lines += kernel_section(a.out, best)
    # the real players' figures (models/players_train.py), when that has been run
    players = os.path.join(a.out, "players.json")
    if os.path.exists(players):
        with open(players) as f:
            lines += players_train.section(json.load(f))
    lines += [
        "",
        "## How it is measured",
        "",
        "- Accuracy and the confusion matrix: scikit-learn's forest on the held-out sessions' windows.",
        f"- Inputs ({len(g['features'])} per window, given for the window and the two before it): the runner's",
        "  features most important on the training sessions, and five from a replay of the player's",
        "  buffer (models/train.py, `Replay`): the flow's requests give each segment's size and when",
        "  it was in, the spacing of requests on a full buffer gives the segment duration, and the",
        "  replay says which segments played in the window, at what bitrate, and how long it stalled.",
        "- Export: one JavaScript function per tree; inputs are `floor(feature x scale)` integers",
        "  (bytes in units of 16, Mbit/s x 1000, age x 10), so every threshold is an integer and",
        "  the comparisons are exact; leaf probabilities are summed in scikit-learn's order. The",
        "  exported model is compiled to QuickJS bytecode by the big-endian MIPS fwrunner and run",
        "  under qemu-mips on every held-out input; its answers are compared with scikit-learn's.",
        f"- Instructions: qemu-mips-static `-singlestep -d nochain,exec` logs one line per executed",
        "  guest instruction. `fwrunner predict` on 21 feature lines minus on 1 line, divided by 20,",
        f"  minus the same for a model that returns a constant ({m['runnerInstructionsPerLine']:,} instructions",
        "  per line: JSON parsing and output), is the model's own cost per prediction.",
        "",
        "## Limits, plainly",
        "",
        "- The lab is emulated: namespaces on one machine, tbf for the bottleneck and a BPF filter",
        "  for random loss. This kernel has no netem, so no fixed delay is added; the only delay is",
        "  the queueing delay tbf builds. Segment sizes and player rules are the lab's own, not a",
        "  real service's. Accuracy on real services will be lower and must be measured there.",
        "- The replay assumes a player like the lab's: one connection for the video, playback from",
        "  the first media segment, segments played back to back, requests one segment duration apart",
        "  once the buffer is full. A player that fetches over several connections, or audio and video",
        "  apart, breaks those assumptions, and the model then has the per-window features only.",
        "- The label is the resolution *played* in the window, which lags the downloads by the",
        "  player's buffer (up to 20 s); windows with less than 5 s of playback are left out.",
        "- The lab's player starts playing as soon as its first media segment is in, and the router",
        "  sees that segment end: so the startup error says the timing is observable at the router,",
        "  not that a real service's startup (which waits for more buffer, its own way) is known",
        "  to the millisecond.",
    ]
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"report: {os.path.join(a.out, 'report.md')}, plot: {os.path.join(a.out, 'tradeoff.png')}")


if __name__ == "__main__":
    main()
