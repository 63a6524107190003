"""What MNIST-1D's extra augmentations cost: notebook 11's recipe with and without `max_scale` and `noise`, in
one run.

Trains notebook 11's default Perceiver for `--steps` steps of `training.train`, once with the recipe's
augmentation (circular shifts only) and once with amplitude scaling and noise added, `--repeats` times each,
interleaved so that drifts in machine load hit both alike, on one thread as the sweeps run. Prints the median
seconds of each and their ratio: the augmented recipe is the same model for the same steps, so the ratio is
the cost of drawing the augmentation. Usage:

    python benchmarks/augment_cost.py [--steps 300] [--repeats 3] [--noise 0.2] [--max-scale 0.2]
"""

import argparse
import statistics
import time

import torch

from perceiver_lite.runner.parameters import point_settings
from perceiver_lite.runner.scale import point_model
from perceiver_lite.tasks.training import load_mnist1d, seed_everything, train


def seconds(data, s, steps, max_scale, noise):
    "Wall seconds of `steps` training steps of the table's Perceiver at notebook 11's defaults `s`."
    seed_everything(s["seed"])
    model = point_model(s)
    start = time.perf_counter()
    train(
        model,
        data,
        steps,
        s["lr"],
        s["batch_size"],
        s["weight_decay"],
        s["label_smoothing"],
        s["warmup"],
        s["max_shift"],
        s["seed"],
        evals=1,
        max_scale=max_scale,
        noise=noise,
    )
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--max-scale", type=float, default=0.2)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data, settings = load_mnist1d(), point_settings({"model": "perceiver"})
    runs = {"recipe": [], "recipe + scaling + noise": []}
    for repeat in range(args.repeats):
        order = list(runs) if repeat % 2 == 0 else list(runs)[::-1]
        for name in order:
            extra = (args.max_scale, args.noise) if name != "recipe" else (0.0, 0.0)
            runs[name].append(seconds(data, settings, args.steps, *extra))
    medians = {name: statistics.median(times) for name, times in runs.items()}
    for name, times in runs.items():
        print(
            f"{name:<26} median {medians[name]:7.2f} s for {args.steps} steps  (runs: "
            + ", ".join(f"{t:.2f}" for t in times)
            + ")"
        )
    print(
        f"augmented / recipe: {medians['recipe + scaling + noise'] / medians['recipe']:.3f}× "
        f"(max_scale {args.max_scale}, noise {args.noise}, 1 thread, {args.repeats} repeats interleaved)"
    )


if __name__ == "__main__":
    main()
