"""perceiver_lite against transformers' and lucidrains' Perceivers on the same 224×224 model, in one run.

perceiver_lite runs with `PerceiverConfig(latent_side_projections=True)`, its fast option (same result).
Times inference and one training step (forward, cross-entropy, backward) as the median of several
repeats, all implementations in this process, interleaved so that drifts in machine load hit all of
them alike; measures each one's peak memory in a fresh subprocess; and reports the cross-attention's
achieved GFLOP/s against a matmul measured on the same machine. Usage:

    python benchmarks/compare.py [--repeats 5]
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import IMPLEMENTATIONS, build, measure_in_child  # noqa: E402

from perceiver_lite.performance.fast import measure  # noqa: E402


def step(model, inputs, run, train):
    "One inference, or one training step (forward, loss, backward)."
    if not train:
        with torch.no_grad():
            return run(model, inputs)
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(run(model, inputs), torch.tensor([3]))
    loss.backward()


def time_all(repeats, train):
    "Median seconds per implementation, repeats interleaved across implementations."
    built = {name: build(name) for name in IMPLEMENTATIONS}
    for model, _, _ in built.values():
        model.train(train)
    samples = {name: [] for name in IMPLEMENTATIONS}
    for model, inputs, run in built.values():  # warm-up
        step(model, inputs, run, train)
    for _ in range(repeats):
        for name, (model, inputs, run) in built.items():
            start = time.perf_counter()
            step(model, inputs, run, train)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def child(name, mode):
    "Peak resident memory growth of one inference/training step, printed as JSON (subprocess)."
    model, inputs, run = build(name)
    model.train(mode == "train")
    _, peak = measure(lambda: step(model, inputs, run, mode == "train"), repeats=1, warmup=1)
    print(json.dumps({"peak_bytes": peak}))


def matmul_peak():
    "GFLOP/s of a large float32 matmul: the machine's practical peak."
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    seconds, _ = measure(lambda: a @ b, repeats=10)
    return 2 * 2048**3 / seconds / 1e9


def cross_attention_gflops():
    "Achieved GFLOP/s of perceiver_lite's cross-attend on the benchmark input (inference)."
    model, inputs, _ = build("perceiver_lite")
    model.eval()
    with torch.no_grad():
        array = model.adapter(inputs)  # (1, M, C)
        latents = model.encoder.latents[None]  # (1, N, D)
        block = model.encoder.cross_attends[0]
        seconds, _ = measure(lambda: block(latents, array), repeats=10)
    (_, M, C), (_, N, D) = array.shape, latents.shape
    # what the latent-side read performs: scores and weighted sum, then q, key-back, value and out
    # projections, MLP
    flops = 2 * (2 * N * M * C) + 2 * (N * D * C + 2 * N * C * C + N * C * D) + 2 * (2 * N * D * D)
    return flops / seconds / 1e9, seconds


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("IMPLEMENTATION", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; 224×224×3 image + 64 Fourier bands "
        "(M = 50,176, C = 261), 256 latents × 256, 1 cross-attend (1 head) + 4 self-attends (8 heads), "
        "batch 1"
    )
    times = {
        "inference": time_all(args.repeats, train=False),
        "train step": time_all(max(args.repeats - 2, 3), train=True),
    }
    memory = {
        mode: {name: measure_in_child(Path(__file__), name, key)["peak_bytes"] for name in IMPLEMENTATIONS}
        for mode, key in (("inference", "eval"), ("train step", "train"))
    }
    ours = "perceiver_lite"
    print(
        f"\n{'':16s}{'':14s}"
        + "".join(f"{n:>16s}" for n in IMPLEMENTATIONS)
        + "   ours/transformers  ours/lucidrains"
    )
    for mode in times:
        t, m = times[mode], memory[mode]
        print(
            f"{mode:16s}{'time (ms)':14s}"
            + "".join(f"{t[n] * 1e3:16.0f}" for n in IMPLEMENTATIONS)
            + f"{t[ours] / t['transformers']:19.2f}×{t[ours] / t['lucidrains']:16.2f}×"
        )
        print(
            f"{'':16s}{'peak (MiB)':14s}"
            + "".join(f"{m[n] / 2**20:16.0f}" for n in IMPLEMENTATIONS)
            + f"{m[ours] / m['transformers']:19.2f}×{m[ours] / m['lucidrains']:16.2f}×"
        )
    peak = matmul_peak()
    achieved, seconds = cross_attention_gflops()
    print(
        f"\nspeed-ups: inference {times['inference']['transformers'] / times['inference'][ours]:.2f}× vs "
        "transformers, "
        f"{times['inference']['lucidrains'] / times['inference'][ours]:.2f}× vs lucidrains; training step "
        f"{times['train step']['transformers'] / times['train step'][ours]:.2f}× / "
        f"{times['train step']['lucidrains'] / times['train step'][ours]:.2f}×"
    )
    print(
        f"cross-attend: {seconds * 1e3:.0f} ms, {achieved:.0f} GFLOP/s = {100 * achieved / peak:.0f}% "
        f"of the measured matmul peak ({peak:.0f} GFLOP/s, 2048² float32)"
    )
    print(
        "peak = resident-memory growth during one step, above the built model and its input (fresh process "
        "each)"
    )


if __name__ == "__main__":
    main()
