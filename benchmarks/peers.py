"""The benchmark model, built three ways: perceiver_lite, transformers' port, lucidrains' perceiver-pytorch.

The same configuration everywhere: an RGB image with 64 Fourier bands per axis (C = 261 channels per
pixel), 256 latents of width 256, one cross-attend with one head whose query/key width is the input
width (the port's default), a tower of four self-attends with eight heads, 1,000 classes. Each builder
returns `(model, make_inputs(side), run(model, inputs) -> logits)`. perceiver_lite runs with its fast option
switched on by name, `latent_side_projections=True` (the cross-attend's key and value projections moved to the
latents' side, notebooks/A3_performance.ipynb); the default model is the plain computation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
IMPLEMENTATIONS = ("perceiver_lite", "transformers", "lucidrains")


def build(name, side=224, streamed=False):
    "`(model, inputs, run)` for one implementation at a `side`×`side` image."
    torch.manual_seed(0)
    return {"perceiver_lite": _ours, "transformers": _transformers, "lucidrains": _lucidrains}[name](
        side, streamed
    )


def _ours(side, streamed):
    from perceiver_lite.perceiver import Perceiver, PerceiverConfig
    from perceiver_lite.performance.fast import streamed_forward

    config = PerceiverConfig(
        input_channels=3,
        input_shape=(224, 224),
        num_bands=64,
        max_resolution=(224, 224),
        num_latents=256,
        latent_dim=256,
        num_blocks=1,
        num_self_attends_per_block=4,
        num_cross_attends=1,
        num_cross_heads=1,
        num_self_heads=8,
        num_classes=1000,
        latent_side_projections=True,
    )  # the fast option: same result (appendix A3)
    model = Perceiver(config)
    run = (lambda m, x: streamed_forward(m, x)) if streamed else (lambda m, x: m(x))
    return model, torch.rand(1, side, side, 3), run


def _transformers(side, streamed):
    from transformers import PerceiverConfig, PerceiverForImageClassificationFourier

    config = PerceiverConfig(
        num_latents=256,
        d_latents=256,
        d_model=261,
        num_blocks=1,
        num_self_attends_per_block=4,
        num_self_attention_heads=8,
        num_cross_attention_heads=1,
        image_size=224,
        num_labels=1000,
    )
    model = PerceiverForImageClassificationFourier(config)
    return model, torch.rand(1, 3, side, side), lambda m, x: m(inputs=x).logits


def _lucidrains(side, streamed):
    from perceiver_pytorch import Perceiver

    model = Perceiver(
        input_channels=3,
        input_axis=2,
        num_freq_bands=64,
        max_freq=224.0,
        depth=1,
        num_latents=256,
        latent_dim=256,
        cross_heads=1,
        latent_heads=8,
        cross_dim_head=261,
        latent_dim_head=32,
        num_classes=1000,
        attn_dropout=0.0,
        ff_dropout=0.0,
        self_per_cross_attn=4,
    )
    return model, torch.rand(1, side, side, 3), lambda m, x: m(x)


def measure_in_child(script, *args, timeout=1800):
    "Run `script --child ARGS` in a fresh interpreter and return the JSON it prints last."
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script), "--child", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
