"""Bad inputs at the doors of the task modules (notebooks 06–09): the byte corpus and word masking, image
pairs with known flow, audio-video clips and their model's config, point clouds and the PointNet config.
Each must raise ValueError or TypeError with a message naming what was expected and what was given —
never a RuntimeError from inside torch, an OverflowError, or a silently odd result."""

import math

import pytest
import torch

from perceiver_lite.perceiver import PerceiverConfig
from perceiver_lite.tasks.flow import (
    classical_flow,
    color_wheel,
    end_point_error,
    flow_field,
    flow_pairs,
    flow_to_color,
    frame_patches,
    gray_image,
    level_patches,
    normalise_frames,
)
from perceiver_lite.tasks.multimodal import MultimodalAdapter, MultimodalConfig, make_av_clips, patchify
from perceiver_lite.tasks.points import PointNetConfig, make_point_clouds, random_rotations
from perceiver_lite.tasks.text_data import (
    byte_windows,
    docstring_corpus,
    is_held_out,
    mask_words,
    masked_positions,
)

IDS = torch.zeros(2, 8, dtype=torch.long)
IMAGES = [torch.rand(40, 40)]  # room for a 16-pixel crop with motions of up to 4 pixels
FRAMES = torch.rand(2, 2, 8, 8)
AUDIO = PerceiverConfig(input_channels=16, input_shape=(16,), num_bands=8)


def raises(error, words, call):
    with pytest.raises(error, match=words):
        call()


# ---- counts: an int ≥ 1 (≥ 0 where zero means none), never a bool, a float or a negative number ---------

COUNTS = {
    "byte_windows length 0": (ValueError, "length must be ≥ 1, got 0", lambda: byte_windows(b"abcdef", 0, 2)),
    "byte_windows length 2.5": (
        TypeError,
        "length must be an int, got 2.5",
        lambda: byte_windows(b"abcdef", 2.5, 2),
    ),
    "byte_windows batch_size True": (
        TypeError,
        "batch_size must be an int, got True",
        lambda: byte_windows(b"abcdef", 2, True),
    ),
    "gray_image downscale 1.5": (
        TypeError,
        "downscale must be an int, got 1.5",
        lambda: gray_image("camera", 1.5),
    ),
    "flow_field size 4.0": (TypeError, "size must be an int, got 4.0", lambda: flow_field("shift", 4.0, 1.0)),
    "flow_pairs batch_size 0": (
        ValueError,
        "batch_size must be ≥ 1, got 0",
        lambda: flow_pairs(IMAGES, 0, 16),
    ),
    "flow_pairs size 16.0": (TypeError, "size must be an int, got 16.0", lambda: flow_pairs(IMAGES, 2, 16.0)),
    "color_wheel size 0": (ValueError, "size must be ≥ 1, got 0", lambda: color_wheel(0)),
    "frame_patches patch_size 3.0": (
        TypeError,
        "patch_size must be an int, got 3.0",
        lambda: frame_patches(FRAMES, 3.0),
    ),
    "level_patches levels 0": (ValueError, "levels must be ≥ 1, got 0", lambda: level_patches(FRAMES, 0)),
    "level_patches levels 2.0": (
        TypeError,
        "levels must be an int, got 2.0",
        lambda: level_patches(FRAMES, 2.0),
    ),
    "frame_patches patch_size -1": (
        ValueError,
        "patch_size must be ≥ 1, got -1",
        lambda: frame_patches(FRAMES, -1),
    ),
    "make_av_clips num_clips True": (
        ValueError,
        "num_clips must be an int ≥ 1, got True",
        lambda: make_av_clips(True),
    ),
    "make_av_clips num_frames 2.0": (
        ValueError,
        "num_frames must be an int ≥ 1, got 2.0",
        lambda: make_av_clips(4, num_frames=2.0),
    ),
    "patchify patch 2.0": (
        ValueError,
        r"patch_shape must give one size ≥ 1 per grid axis.* got \(2.0,\)",
        lambda: patchify(torch.zeros(2, 16), (2.0,)),
    ),
    "patchify patch 0": (ValueError, r"got \(0,\)", lambda: patchify(torch.zeros(2, 16), (0,))),
    "random_rotations count 0": (ValueError, "count must be ≥ 1, got 0", lambda: random_rotations(0)),
    "random_rotations count 2.0": (TypeError, "count must be an int, got 2.0", lambda: random_rotations(2.0)),
    "make_point_clouds num_points True": (
        ValueError,
        "num_points must be an int ≥ 1, got True",
        lambda: make_point_clouds(4, True),
    ),
}


@pytest.mark.parametrize("case", COUNTS)
def test_counts(case):
    raises(*COUNTS[case])


# ---- fractions and sizes in a range: masks in [0, 1], noise and motion finite and ≥ 0 ----------------------

RANGES = {
    "mask_fraction 1.5": (
        ValueError,
        r"mask_fraction must be a number in \[0, 1\], got 1.5",
        lambda: mask_words(IDS, 1.5),
    ),
    "mask_fraction -0.1": (ValueError, "got -0.1", lambda: mask_words(IDS, -0.1)),
    "mask_fraction nan": (ValueError, "got nan", lambda: mask_words(IDS, float("nan"))),
    "mask_fraction '15%'": (ValueError, "got '15%'", lambda: mask_words(IDS, "15%")),
    "held_out_fraction 0": (
        ValueError,
        r"held_out_fraction must lie in \(0, 1\), got 0",
        lambda: is_held_out("abc", 0),
    ),
    "held_out_fraction 1.5": (ValueError, "got 1.5", lambda: docstring_corpus(held_out_fraction=1.5)),
    "max_displacement inf (field)": (
        ValueError,
        "max_displacement must be finite and ≥ 0, got inf",
        lambda: flow_field("shift", 8, math.inf),
    ),
    "max_displacement inf (pairs)": (
        ValueError,
        "max_displacement must be finite and ≥ 0, got inf",
        lambda: flow_pairs(IMAGES, 2, 16, max_displacement=math.inf),
    ),
    "max_displacement -1": (ValueError, "got -1", lambda: flow_pairs(IMAGES, 2, 16, max_displacement=-1)),
    "clip noise inf": (
        ValueError,
        "noise must be finite and ≥ 0, got inf",
        lambda: make_av_clips(4, noise=math.inf),
    ),
    "clip noise nan": (ValueError, "got nan", lambda: make_av_clips(4, noise=float("nan"))),
    "cloud noise inf": (
        ValueError,
        "noise must be finite and ≥ 0, got inf",
        lambda: make_point_clouds(4, noise=math.inf),
    ),
    "cloud scale inf": (
        ValueError,
        r"scale_range must be \(low, high\) with 0 < low ≤ high, finite, got \(0.5, inf\)",
        lambda: make_point_clouds(4, scale_range=(0.5, math.inf)),
    ),
    "cloud scale reversed": (
        ValueError,
        r"got \(1.0, 0.5\)",
        lambda: make_point_clouds(4, scale_range=(1.0, 0.5)),
    ),
}


@pytest.mark.parametrize("case", RANGES)
def test_ranges(case):
    raises(*RANGES[case])


# ---- choices: unknown kinds of motion, splits, methods, shapes, images
# --------------------------------------

CHOICES = {
    "motion 'zoom' (field)": (
        ValueError,
        r"kind must be one of \('shift', 'affine', .*\), got 'zoom'",
        lambda: flow_field("zoom", 8, 1.0),
    ),
    "motion 'zoom' (pairs)": (ValueError, "got 'zoom'", lambda: flow_pairs(IMAGES, 2, 16, "zoom")),
    "motion None": (ValueError, "got None", lambda: flow_pairs(IMAGES, 2, 16, None)),
    "split 'dev'": (
        ValueError,
        "split must be one of \\('train', 'validation', 'test', 'held_out'\\), got 'dev'",
        lambda: docstring_corpus("dev"),
    ),
    "modules one str": (
        TypeError,
        "modules must be a collection of module names, got the single str 'json'",
        lambda: docstring_corpus(modules="json"),
    ),
    "held-out name not str": (
        TypeError,
        "name must be a module name \\(str\\), got int",
        lambda: is_held_out(3),
    ),
    "flow method 'farneback'": (
        ValueError,
        "method must be 'ilk' \\(Lucas–Kanade\\) or 'tvl1', got 'farneback'",
        lambda: classical_flow(FRAMES, "farneback"),
    ),
    "image 'lena'": (ValueError, "got 'lena'", lambda: gray_image("lena")),
    "shapes one str": (
        ValueError,
        "shapes must be names among .*, each once, got 'sphere'",
        lambda: make_point_clouds(4, shapes="sphere"),
    ),
    "shapes twice": (
        ValueError,
        r"each once, got \('cube', 'cube'\)",
        lambda: make_point_clouds(4, shapes=("cube", "cube")),
    ),
    "num_shapes beyond the sprites": (
        ValueError,
        "num_shapes must be ≤ 4",
        lambda: make_av_clips(4, num_shapes=9),
    ),
}


@pytest.mark.parametrize("case", CHOICES)
def test_choices(case):
    raises(*CHOICES[case])


# ---- what is not a tensor, or not the tensor asked for
# --------------------------------------------------------

TENSORS = {
    "mask_words list": (ValueError, r"ids must be int64 \(B, T\), got list", lambda: mask_words([[1, 2]])),
    "masked_positions list": (
        ValueError,
        r"mask must be bool \(B, T\), got list",
        lambda: masked_positions([[True]]),
    ),
    "flow_pairs one tensor": (
        TypeError,
        r"images must be a list of \(H, W\) tensors, got one tensor .* \(40, 40\)",
        lambda: flow_pairs(IMAGES[0], 2, 16),
    ),
    "flow_pairs numpy image": (
        ValueError,
        "images must be \\(H, W\\) tensors .* got ndarray",
        lambda: flow_pairs([IMAGES[0].numpy()], 2, 16),
    ),
    "end_point_error list": (
        ValueError,
        r"flow and target must both be \(B, 2, H, W\), got list and torch.float32",
        lambda: end_point_error([0.0], FRAMES),
    ),
    "end_point_error valid list": (
        ValueError,
        "valid must be bool of shape \\(2, 8, 8\\), got list",
        lambda: end_point_error(FRAMES, FRAMES, [True]),
    ),
    "flow_to_color list": (ValueError, r"flow must be \(2, H, W\), got list", lambda: flow_to_color([[0.0]])),
    "frame_patches list": (
        ValueError,
        r"frames must be \(B, F, H, W\) and patch_size odd, got list and 3",
        lambda: frame_patches([[0.0]]),
    ),
    "normalise_frames list": (
        ValueError,
        r"frames must be floating \(B, F, H, W\), got list",
        lambda: normalise_frames([0.0]),
    ),
    "classical_flow list": (
        ValueError,
        r"frames must be \(B, 2, H, W\), got list",
        lambda: classical_flow([0.0]),
    ),
    "patchify list": (
        ValueError,
        r"array must be a tensor \(B, \*grid\) with at least one grid axis, got list",
        lambda: patchify([[0.0] * 16], (4,)),
    ),
    "patchify (B,)": (ValueError, r"got torch.float32 \(4,\)", lambda: patchify(torch.zeros(4), ())),
}


@pytest.mark.parametrize("case", TENSORS)
def test_tensors(case):
    raises(*TENSORS[case])


# ---- exported configs check their fields -------------------------------------------------------------------

CONFIGS = {
    "PointNetConfig width 0": (ValueError, "width must be ≥ 1, got 0", lambda: PointNetConfig(width=0)),
    "PointNetConfig num_classes 6.0": (
        TypeError,
        "num_classes must be an int, got 6.0",
        lambda: PointNetConfig(num_classes=6.0),
    ),
    "PointNetConfig input_channels -3": (
        ValueError,
        "input_channels must be ≥ 1, got -3",
        lambda: PointNetConfig(input_channels=-3),
    ),
    "MultimodalConfig min_padding 1.5": (
        TypeError,
        "min_padding must be an int, got 1.5",
        lambda: MultimodalConfig(min_padding=1.5),
    ),
    "MultimodalConfig min_padding -1": (
        ValueError,
        "min_padding must be ≥ 0, got -1",
        lambda: MultimodalConfig(min_padding=-1),
    ),
    "MultimodalConfig modalities list": (
        ValueError,
        "modalities must map names to 'fourier' or 'none' PerceiverConfigs, got \\[",
        lambda: MultimodalConfig(modalities=[AUDIO]),
    ),
    "MultimodalConfig modality a dict": (
        ValueError,
        "modalities must map names to 'fourier' or 'none' PerceiverConfigs",
        lambda: MultimodalConfig(modalities={"audio": {"input_channels": 16}}),
    ),
    "MultimodalConfig name not str": (
        ValueError,
        "modalities must map names",
        lambda: MultimodalConfig(modalities={0: AUDIO}),
    ),
    "MultimodalConfig perceiver a dict": (
        TypeError,
        "perceiver must be a PerceiverConfig, got dict",
        lambda: MultimodalConfig(perceiver={"adapter": "none"}),
    ),
    "MultimodalConfig perceiver's width": (
        ValueError,
        "perceiver must have adapter 'none' and input_channels 45, got 'none' and 40",
        lambda: MultimodalConfig(perceiver=PerceiverConfig(adapter="none", input_channels=40)),
    ),
    "MultimodalConfig modality_embedding a str": (
        TypeError,
        "modality_embedding must be a bool, got 'no'",
        lambda: MultimodalConfig(modality_embedding="no"),
    ),
    "MultimodalAdapter min_padding -2": (
        ValueError,
        "min_padding must be ≥ 0, got -2",
        lambda: MultimodalAdapter({"audio": AUDIO}, min_padding=-2),
    ),
}


@pytest.mark.parametrize("case", CONFIGS)
def test_configs(case):
    raises(*CONFIGS[case])


def test_the_doors_let_good_input_through():
    "The checks above refuse only what is wrong: the defaults and ordinary values still work."
    assert byte_windows(b"abcdefgh", 4, 3).shape == (3, 4)
    assert mask_words(IDS, 0).sum() == 0 and mask_words(IDS + 97, 1).all()
    assert flow_pairs(IMAGES, 2, 16, "affine+smooth", 4.0)[1].shape == (2, 2, 16, 16)
    assert flow_field("smooth", 8, 0.0).abs().max() == 0
    assert random_rotations(1).shape == (1, 3, 3)
    assert make_point_clouds(6, 8, shapes=["cube", "torus"])[0].shape == (6, 8, 3)
    assert make_av_clips(2, noise=0.0)["video"].shape == (2, 8, 12, 12)
    assert MultimodalConfig(min_padding=2) == MultimodalConfig() and PointNetConfig().width == 64
