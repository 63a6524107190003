"""Inference at M = 10⁴ … 10⁷ inputs (square RGB images up to 3,162×3,162), beside the public peers.

Every (implementation, size) point runs in a fresh subprocess, which reports time and peak memory
(resident growth above the built model and its input). A peer is skipped at a size where its memory,
extrapolated linearly from its largest measured size, would exceed --memory-limit: this script never
provokes an out-of-memory kill. Writes figures/A3_scaling.png. Usage:

    python benchmarks/scale.py [--max-side 3162] [--memory-limit-gib 12]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import ROOT, build, measure_in_child  # noqa: E402

from perceiver_lite.attention import scaling_exponent  # noqa: E402
from perceiver_lite.performance.fast import measure  # noqa: E402

SIDES = (100, 316, 1000, 3162)
RUNS = {  # label → (implementation, streamed)
    "perceiver_lite (streamed)": ("perceiver_lite", True),
    "perceiver_lite (whole array)": ("perceiver_lite", False),
    "transformers": ("transformers", False),
    "lucidrains": ("lucidrains", False),
}


def child(label, side):
    "Time and peak-memory growth of one inference (subprocess)."
    implementation, streamed = RUNS[label]
    model, inputs, run = build(implementation, side=int(side), streamed=streamed)
    model.eval()
    with torch.no_grad():
        start = time.perf_counter()
        seconds, peak = measure(lambda: run(model, inputs), repeats=1, warmup=0)
    print(json.dumps({"seconds": seconds, "peak_bytes": peak, "wall": time.perf_counter() - start}))


def sweep(sides, limit_bytes):
    results = {label: {} for label in RUNS}
    for label in RUNS:
        for side in sides:
            measured = results[label]
            if measured:
                largest = max(measured)
                predicted = measured[largest]["peak_bytes"] * (side / largest) ** 2
                if predicted > limit_bytes:
                    print(
                        f"{label:30s} M={side * side:>12,}: skipped (would need ~{predicted / 2**30:.0f} GiB)"
                    )
                    continue
            measured[side] = measure_in_child(Path(__file__), label, side)
            r = measured[side]
            print(
                f"{label:30s} M={side * side:>12,}: {r['seconds']:8.2f} s  {r['peak_bytes'] / 2**30:7.2f} "
                "GiB",
                flush=True,
            )
    return results


def report(results):
    print("\nslopes (log-log, over the larger half of the sizes each ran: the course's one rule):")
    for label, measured in results.items():
        sides = sorted(measured)
        if len(sides) >= 2:
            sizes = np.array(sides) ** 2
            t = [measured[s]["seconds"] for s in sides]
            m = [max(measured[s]["peak_bytes"], 1.0) for s in sides]
            print(
                f"  {label:30s} time ∝ M^{scaling_exponent(sizes, t):.2f}   peak memory ∝ "
                f"M^{scaling_exponent(sizes, m):.2f}"
            )
    ours = results["perceiver_lite (streamed)"]
    for peer in ("transformers", "lucidrains"):
        if 1000 in ours and 1000 in results[peer]:
            p, o = results[peer][1000], ours[1000]
            print(
                f"at M = 1,000,000: {peer} / ours: time {p['seconds'] / o['seconds']:.2f}×, "
                f"memory {p['peak_bytes'] / o['peak_bytes']:.1f}×"
            )


def draw(results, path):
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, measured in results.items():
        sides = sorted(measured)
        sizes = np.array(sides) ** 2
        axes[0].loglog(sizes, [measured[s]["seconds"] for s in sides], "o-", label=label)
        axes[1].loglog(sizes, [measured[s]["peak_bytes"] / 2**30 for s in sides], "o-", label=label)
    for ax, unit in zip(axes, ("inference time (s)", "peak memory above model + input (GiB)")):
        ax.set(xlabel="inputs M (pixels of a square RGB image)", ylabel=unit)
        ax.legend(fontsize=7)
    fig.suptitle("Perceiver inference as the input grows (256 latents, 1 cross-attend + 4 self-attends)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path.relative_to(ROOT)}")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-side", type=int, default=3162)
    parser.add_argument("--memory-limit-gib", type=float, default=12.0)
    parser.add_argument("--figure", default=str(ROOT / "figures" / "A3_scaling.png"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    results = sweep([s for s in SIDES if s <= args.max_side], args.memory_limit_gib * 2**30)
    report(results)
    draw(results, Path(args.figure))


if __name__ == "__main__":
    main()
