"""Bad input at the course's tool doors: whatever a learner passes to an exercise check, it prints one line
naming the mistake and never a traceback; the reference port's exported configs check their fields; a
checkpoint that names a class `load` does not know, or names none, is refused with a reason."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import SMALL_MODALITIES
from safetensors.torch import save_file

from perceiver_lite.course.exercises import EXERCISES, check
from perceiver_lite.io import DecoderConfig
from perceiver_lite.perceiver import Perceiver, PerceiverConfig
from perceiver_lite.relatives.pretrained import (
    AutoencoderConfig,
    FlowConfig,
    ImageStemConfig,
    StemClassifierConfig,
)
from perceiver_lite.weights.checkpoint import METADATA_KEY, load


# ---- a learner's answer, any answer -----------------------------------------------------------------------
def raises(*args):
    raise ValueError("a bug in\nthe learner's code")  # a message over two lines still prints as one


class Opaque:
    "An answer that cannot be compared or printed."

    def __eq__(self, other):
        raise RuntimeError("cannot compare")

    def __repr__(self):
        raise RuntimeError("cannot print")


BAD_ANSWERS = {  # what a learner may pass → words the one printed line must hold
    "raises": (raises, "your function raised ValueError"),
    "returns None": (lambda *args: None, "returned None"),
    "returns a string": (lambda *args: "abc", "got 'abc'"),
    "returns a dict": (lambda *args: {}, "got {}"),
    "returns a NumPy array": (lambda *args: np.zeros(3), "got array("),
    "returns the wrong shape": (lambda *args: torch.zeros(1, 1, 1, 1, 1), "(1, 1, 1, 1, 1)"),
    "returns a complex tensor": (lambda *args: torch.zeros(3, dtype=torch.complex64), "(3,)"),
    "returns too long a tuple": (lambda *args: (torch.zeros(1),) * 5, "a tuple of 5"),
    "returns an uncomparable object": (lambda *args: Opaque(), "an object of class Opaque"),
    "not callable: a number": (3, "expected your function itself, got 3"),
    "not callable: None": (None, "expected your function itself, got None"),
    "not callable: a tensor": (torch.zeros(2), "expected your function itself, got a float32 tensor"),
    "lambda without arguments": (lambda: 1, "your function takes (), which cannot take the"),
    "lambda of seven arguments": (
        lambda a, b, c, d, e, f, g: a,
        "your function takes (a, b, c, d, e, f, g), which cannot",
    ),
    "keyword-only arguments": (lambda *, a: a, "your function takes (*, a), which cannot take the"),
}


@pytest.mark.parametrize("kind", BAD_ANSWERS)
@pytest.mark.parametrize("name", EXERCISES)
def test_any_answer_gives_one_line_naming_the_mistake(name, kind, capsys):
    answer, words = BAD_ANSWERS[kind]
    verdict = getattr(check, name)(answer)  # never raises
    printed = capsys.readouterr()
    assert printed.err == ""
    assert printed.out == verdict.message + "\n" and "\n" not in verdict.message
    assert not verdict.ok and verdict.attempted
    assert verdict.message.startswith(f"✗ {name}: ") and words in verdict.message, verdict.message


def test_a_mistake_that_cannot_show_does_not_explain_none(capsys):
    "Some mistakes give None on inputs where they cannot show; an answer of None is not taken for them."
    verdict = check.attention(lambda q, k, v, mask=None, scale=None: None)
    assert "returned None" in verdict.message and "`scale` ignored" not in verdict.message


def test_the_package_answers_still_pass(capsys):
    assert all(getattr(check, name)(exercise.reference).ok for name, exercise in EXERCISES.items())


# ----------------------------------------------------------------------------- the reference port's configs
SMALL = dict(num_latents=8, latent_dim=16, num_self_heads=2)
STEM = ImageStemConfig("conv", out_channels=8, num_bands=2, max_resolution=(4, 4))
STEM_ENCODER = PerceiverConfig(adapter="none", input_channels=STEM.channels, **SMALL)
FLOW_ENCODER = PerceiverConfig(adapter="none", input_channels=16 + 18, **SMALL)
FLOW_DECODER = DecoderConfig(query_dim=34, latent_dim=16, output_channels=2)
FLOW = dict(patch_channels=9, channels=16, num_bands=4, max_resolution=(6, 6))
MODALITIES = SMALL_MODALITIES

BAD_CONFIGS = [  # (id, exception, message, a call that builds the config)
    (
        "stem-max-resolution-int",
        ValueError,
        r"max_resolution must be 2 positive numbers, got 4",
        lambda: ImageStemConfig("conv", max_resolution=4),
    ),
    (
        "stem-max-resolution-nan",
        ValueError,
        r"max_resolution must be 2 positive numbers, got \(4, nan\)",
        lambda: ImageStemConfig("conv", max_resolution=(4, float("nan"))),
    ),
    (
        "stem-unknown",
        ValueError,
        r"stem must be 'conv1x1' or 'conv', got 'conv3x3'",
        lambda: ImageStemConfig("conv3x3"),
    ),
    (
        "classifier-stem-dict",
        TypeError,
        r"stem must be an ImageStemConfig, got dict",
        lambda: StemClassifierConfig(
            {"stem": "conv"}, STEM_ENCODER, DecoderConfig(query_dim=8, latent_dim=16)
        ),
    ),
    (
        "classifier-decoder-none",
        TypeError,
        r"decoder must be a DecoderConfig, got NoneType",
        lambda: StemClassifierConfig(STEM, STEM_ENCODER, None),
    ),
    (
        "flow-encoder-dict",
        TypeError,
        r"encoder must be a PerceiverConfig, got dict",
        lambda: FlowConfig({}, FLOW_DECODER, **FLOW),
    ),
    (
        "flow-frames-zero",
        ValueError,
        r"frames must be ≥ 1, got 0",
        lambda: FlowConfig(FLOW_ENCODER, FLOW_DECODER, frames=0, **FLOW),
    ),
    (
        "flow-channels-float",
        TypeError,
        r"channels must be an int, got 16.0",
        lambda: FlowConfig(FLOW_ENCODER, FLOW_DECODER, **{**FLOW, "channels": 16.0}),
    ),
    (
        "flow-max-resolution-three",
        ValueError,
        r"max_resolution must be 2 positive numbers, got \(6, 6, 6\)",
        lambda: FlowConfig(FLOW_ENCODER, FLOW_DECODER, **{**FLOW, "max_resolution": (6, 6, 6)}),
    ),
    (
        "flow-rescale-zero",
        ValueError,
        r"rescale must be a positive finite number, got 0",
        lambda: FlowConfig(FLOW_ENCODER, FLOW_DECODER, rescale=0, **FLOW),
    ),
    (
        "flow-rescale-string",
        ValueError,
        r"rescale must be a positive finite number, got '100'",
        lambda: FlowConfig(FLOW_ENCODER, FLOW_DECODER, rescale="100", **FLOW),
    ),
    (
        "modalities-output-shape",
        ValueError,
        r"output_shape must be 3 ints ≥ 1, got \(8, 8\)",
        lambda: replace(MODALITIES, output_shape=(8, 8)),
    ),
    (
        "modalities-masked-unknown",
        ValueError,
        r"masked must name modalities among \('audio', 'image', 'label'\), "
        r"got \('text',\)",
        lambda: replace(MODALITIES, masked=("text",)),
    ),
    (
        "modalities-masked-string",
        ValueError,
        r"masked must be a tuple of modality names, got 'label'",
        lambda: replace(MODALITIES, masked="label"),
    ),
    (
        "modalities-patch-zero",
        ValueError,
        r"patch_size must be ≥ 1, got 0",
        lambda: replace(MODALITIES, patch_size=0),
    ),
    (
        "autoencoder-modalities-dict",
        TypeError,
        r"modalities must be an AutoencoderModalities, got dict",
        lambda: AutoencoderConfig({}, STEM_ENCODER, FLOW_DECODER),
    ),
]


@pytest.mark.parametrize(
    "exception, message, build", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_exported_configs_check_their_fields(exception, message, build):
    with pytest.raises(exception, match=message):
        build()


def test_the_good_configs_still_build():
    assert FlowConfig(FLOW_ENCODER, FLOW_DECODER, **FLOW).max_resolution == (6, 6)
    assert ImageStemConfig("conv", max_resolution=[4, 4]).max_resolution == (4, 4)  # JSON gives lists
    assert replace(MODALITIES, masked=["label"]).masked == ("label",)


# ---- checkpoints naming an unknown class ------------------------------------------------------------------
def checkpoint_naming(tmp_path, entry):
    model = Perceiver(PerceiverConfig(num_latents=4, latent_dim=8, num_self_heads=2, num_bands=2))
    path = tmp_path / "model.safetensors"
    save_file(dict(model.state_dict()), path, metadata={METADATA_KEY: json.dumps(entry)})
    return path


CONFIG = {"num_latents": 4, "latent_dim": 8, "num_self_heads": 2, "num_bands": 2}
BAD_ENTRIES = [
    (
        "unknown-class",
        {"model": "GPT2", "config": CONFIG},
        r"holds a 'GPT2', which is not a registered model class \(registered: \[.*\]\); if it is your own "
        r"class, "
        r"call register\(GPT2, its config class\) before load",
    ),
    (
        "class-not-a-string",
        {"model": ["Perceiver"], "config": CONFIG},
        r"must name the model class \(a string\) and give its config \(a JSON object\), got \['Perceiver'\] "
        r"and dict",
    ),
    (
        "config-not-an-object",
        {"model": "Perceiver", "config": [4, 8]},
        r"must name the model class \(a string\) and give its config \(a JSON object\), got 'Perceiver' and "
        r"list",
    ),
    (
        "no-class",
        {"config": CONFIG},
        r"unreadable 'perceiver_lite' entry, expected model and config: KeyError",
    ),
]


@pytest.mark.parametrize("entry, message", [c[1:] for c in BAD_ENTRIES], ids=[c[0] for c in BAD_ENTRIES])
def test_load_refuses_a_file_naming_an_unknown_class(tmp_path, entry, message):
    with pytest.raises(ValueError, match=message):
        load(checkpoint_naming(tmp_path, entry))
