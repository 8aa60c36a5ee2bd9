#!/usr/bin/python3
"""Draws the plots of docs/platforms.md from the data bench/platforms.ts wrote (its "plot" part).

    /usr/bin/python3 bench/platforms_plot.py DATA.json OUT_DIR

Debian's python3-matplotlib; PNGs without a timestamp, so a rerun on the same data is identical.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    data_file, out = sys.argv[1], sys.argv[2]
    with open(data_file) as f:
        plot = json.load(f)["plot"]

    per = plot["perPacket"]
    targets = list(per)
    cases = list(next(iter(per.values()))) if per else []
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(1, len(cases))
    for i, case in enumerate(cases):
        xs = [t + (i - (len(cases) - 1) / 2) * width for t in range(len(targets))]
        bars = ax.bar(xs, [per[t][case] for t in targets], width, label=case)
        ax.bar_label(bars, fontsize=7)
    ax.set_xticks(range(len(targets)), targets)
    ax.set_ylabel("guest instructions per packet over an empty program")
    ax.set_title("fw_lan_ingress per packet, JIT on (BPF_PROG_TEST_RUN under -icount)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "platforms-per-packet.png"), dpi=110, metadata={"Software": None})

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, pts in plot["share"].items():
        ax.plot([p[0] / 1000 for p in pts], [p[1] for p in pts], marker=".", label=name)
    ax.set_xlabel("packets per second (thousands), 1,000 flows")
    ax.set_ylabel("share of one core (%)")
    ax.set_title("Toolkit's share of a real router CPU (assumed clock and IPC)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "platforms-cpu-share.png"), dpi=110, metadata={"Software": None})


if __name__ == "__main__":
    main()
