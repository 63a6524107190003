"""Bad input at the doors of notebook 04's configuration and notebook 10's plots: each must raise
ValueError or TypeError with a message naming what was expected and what was given, when the config is
made or the function is called — never an IndexError, a NameError or a matplotlib error from inside."""

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from perceiver_lite.course.viewer import viewer_frame
from perceiver_lite.course.viz import (
    cross_attention_maps,
    plot_decoder_attention,
    plot_image_attention,
    plot_score_maps,
    plot_sequence_attention,
)
from perceiver_lite.perceiver import Perceiver, PerceiverConfig, imagenet_config

torch.manual_seed(0)
IMAGES = torch.randn(3, 6, 5, 1)  # (B, H, W, 1)
MAPS = cross_attention_maps(
    Perceiver(
        PerceiverConfig(
            input_shape=(6, 5),
            num_bands=4,
            num_latents=7,
            latent_dim=16,
            num_cross_heads=2,
            qk_channels=8,
            num_self_heads=2,
        )
    ),
    IMAGES,
)
SIGNAL = torch.randn(30)  # a sequence of T = 30 = H·W, so the maps above fit it too
DECODER = torch.rand(2, 2, 4, 7).softmax(-1)  # (B, h, O, N)

CONFIGS = [
    # ---- the per-axis fields: tuples of numbers
    (
        "grid-not-a-tuple",
        TypeError,
        r"input_shape must be a tuple with one int per axis, got 40",
        dict(input_shape=40),
    ),
    (
        "grid-of-bools",
        TypeError,
        r"input_shape must be a tuple with one int per axis, got \(True,\)",
        dict(input_shape=(True,)),
    ),
    (
        "grid-of-floats",
        TypeError,
        r"input_shape must be a tuple with one int per axis, got \(40.0,\)",
        dict(input_shape=(40.0,)),
    ),
    (
        "resolution-not-a-tuple",
        TypeError,
        r"max_resolution must be a tuple with one number per axis, got 40",
        dict(max_resolution=40),
    ),
    (
        "resolution-a-string",
        TypeError,
        r"max_resolution must be a tuple with one number per axis, got 'high'",
        dict(max_resolution="high"),
    ),
    (
        "resolution-infinite",
        ValueError,
        r"max_resolution must be finite, got \(inf,\)",
        dict(max_resolution=(float("inf"),)),
    ),
    (
        "resolution-nan",
        ValueError,
        r"max_resolution must be finite, got \(nan,\)",
        dict(max_resolution=(float("nan"),)),
    ),
    (
        "points-resolution-two-axes",
        ValueError,
        r"max_resolution must have 3 entries, one per spatial axis.*got \(4, 4\)",
        dict(adapter="points", input_channels=3, max_resolution=(4, 4)),
    ),
    # ---- the switches: True or False, not a truthy string
    (
        "share-weights-string",
        TypeError,
        r"share_weights must be True or False, got 'no'",
        dict(share_weights="no"),
    ),
    (
        "residual-none",
        TypeError,
        r"use_query_residual must be True or False, got None",
        dict(use_query_residual=None),
    ),
    ("fused-int", TypeError, r"fused must be True or False, got 1", dict(fused=1)),
    (
        "latent-side-string",
        TypeError,
        r"latent_side_projections must be True or False, got 'yes'",
        dict(latent_side_projections="yes"),
    ),
    (
        "centred-string",
        TypeError,
        r"centre_cross_queries must be True or False, got 'yes'",
        dict(centre_cross_queries="yes"),
    ),
    (
        "centred-one-latent",
        ValueError,
        r"centre_cross_queries needs two or more latents .* got num_latents=1",
        dict(centre_cross_queries=True, num_latents=1),
    ),
    (
        "centred-latent-side",
        ValueError,
        r"centre_cross_queries needs .* the plain read .* latent_side_projections=True",
        dict(centre_cross_queries=True, latent_side_projections=True),
    ),
    # ---- counts and choices (the rules of appendix A5, reached through the config)
    ("blocks-bool", TypeError, r"num_blocks must be an int, got True", dict(num_blocks=True)),
    ("classes-zero", ValueError, r"num_classes must be ≥ 1, got 0", dict(num_classes=0)),
    (
        "tower-negative",
        ValueError,
        r"num_self_attends_per_block must be ≥ 0, got -1",
        dict(num_self_attends_per_block=-1),
    ),
    (
        "scale-unknown",
        ValueError,
        r"attention_scale must be 'divide' or 'multiply', got 'sqrt'",
        dict(attention_scale="sqrt"),
    ),
]


@pytest.mark.parametrize(
    "error,message,fields", [case[1:] for case in CONFIGS], ids=[case[0] for case in CONFIGS]
)
def test_config_refuses(error, message, fields):
    with pytest.raises(error, match=message):
        PerceiverConfig(**fields)


def test_imagenet_config_checks_its_overrides():
    with pytest.raises(TypeError, match=r"share_weights must be True or False, got 'false'"):
        imagenet_config(share_weights="false")


def test_config_keeps_good_values():
    "Lists and tuples both give tuples; a float resolution stays a float; the checks run again on replace."
    import dataclasses

    config = PerceiverConfig(input_shape=[6, 5], max_resolution=[6.0, 5])
    assert config.input_shape == (6, 5) and config.max_resolution == (6.0, 5)
    assert PerceiverConfig(adapter="points", input_channels=3).max_resolution == (32, 32, 32)
    with pytest.raises(TypeError, match="fused must be True or False"):
        dataclasses.replace(config, fused="no")


PLOTS = [
    # ---- which latents, heads, examples: ints in range, at least one
    (
        "image-latents-none",
        r"latents must lie in \[0, 7\), one or more ints, got none",
        lambda: plot_image_attention(IMAGES[0], MAPS[0], latents=[]),
    ),
    (
        "image-latent-float",
        r"latents must lie in \[0, 7\) as an int, got 1.5",
        lambda: plot_image_attention(IMAGES[0], MAPS[0], latents=[0, 1.5]),
    ),
    (
        "image-latent-bool",
        r"latents must lie in \[0, 7\) as an int, got True",
        lambda: plot_image_attention(IMAGES[0], MAPS[0], latents=[True]),
    ),
    (
        "image-head-out-of-range",
        r"heads must lie in \[0, 2\) as an int, got 2",
        lambda: plot_image_attention(IMAGES[0], MAPS[0], heads=[2]),
    ),
    (
        "scores-latents-none",
        r"latents must lie in \[0, 7\), one or more ints, got none",
        lambda: plot_score_maps(MAPS[0, 0, 0], 6, 5, latents=[]),
    ),
    (
        "scores-zero-columns",
        r"columns must be an int ≥ 1, got 0",
        lambda: plot_score_maps(MAPS[0, 0, 0], 6, 5, latents=range(7), columns=0),
    ),
    (
        "scores-negative-sides",
        r"height must be an int ≥ 1, got -6",
        lambda: plot_score_maps(MAPS[0, 0, 0], -6, -5, latents=range(7)),
    ),
    (
        "sequence-head-negative",
        r"heads must lie in \[0, 2\) as an int, got -1",
        lambda: plot_sequence_attention(SIGNAL, MAPS[0], heads=[-1]),
    ),
    (
        "decoder-example-float",
        r"example must lie in \[0, 2\) as an int, got 0.0",
        lambda: plot_decoder_attention(DECODER, example=0.0),
    ),
    (
        "decoder-names-too-few",
        r"output_names must name the 4 outputs, got 3 names",
        lambda: plot_decoder_attention(DECODER, output_names=["a", "b", "c"]),
    ),
    (
        "frame-latent-float",
        r"query must lie in \[0, 7\) as an int, got 2.0",
        lambda: viewer_frame(IMAGES, MAPS, query=2.0),
    ),
    (
        "frame-example-beyond-the-maps",
        r"example must lie in \[0, 3\) as an int, got 3",
        lambda: viewer_frame(IMAGES, MAPS, example=3),
    ),
]


@pytest.mark.parametrize("call,message", [case[2:0:-1] for case in PLOTS], ids=[case[0] for case in PLOTS])
def test_plots_refuse(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    plt.close("all")


def test_plots_take_numpy_and_tensor_indices():
    "Indices from numpy or torch are ints too: the checks turn them into Python ints."
    for latents in (np.array([0, 3]), torch.tensor([0, 3]), range(2)):
        plt.close(plot_image_attention(IMAGES[0], MAPS[0], latents=latents, heads=np.array([1])))
    figure, caption = viewer_frame(IMAGES, MAPS, example=np.int64(2), query=torch.tensor(6).item())
    plt.close(figure)
    assert caption.startswith("showing example 2, cross-attend 0, head 0, latent 6"), caption
