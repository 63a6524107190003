"""A catalogue of bad inputs across the public API: each must raise the documented exception type
(ValueError or TypeError; FileNotFoundError for a missing file) with a message naming what was expected
and what was given — never a bare AssertionError or a RuntimeError from inside torch."""

import json
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from perceiver_lite.course.viz import cross_attention_maps
from perceiver_lite.io import DecoderConfig, PerceiverIO, PerceiverIOClassifier, PerceiverIOConfig
from perceiver_lite.perceiver import Perceiver, PerceiverConfig, PerceiverEncoder
from perceiver_lite.performance.fast import streamed_forward
from perceiver_lite.tasks.training import seed_everything
from perceiver_lite.weights.checkpoint import load, register, save
from perceiver_lite.weights.convert import config_from_transformers, encoder_state_from_transformers

torch.manual_seed(0)
SMALL = dict(num_latents=8, latent_dim=16, num_self_heads=2, num_bands=4)  # input_dim 1 + 9 = 10
MODEL = Perceiver(PerceiverConfig(**SMALL))
ARRAY_MODEL = Perceiver(PerceiverConfig(adapter="none", input_channels=10, **SMALL))
POINTS_MODEL = Perceiver(PerceiverConfig(adapter="points", input_channels=3, **SMALL))
IO_MODEL = PerceiverIO(PerceiverIOConfig(PerceiverConfig(**SMALL), DecoderConfig(query_dim=8, latent_dim=16)))
BYTES_MODEL = PerceiverIOClassifier(
    PerceiverIOConfig(
        PerceiverConfig(adapter="none", input_channels=4, **SMALL),
        DecoderConfig(query_dim=4, latent_dim=16),
        1,
        "bytes",
        vocab_size=10,
        max_positions=6,
    )
)


def with_value(value, *where):
    "A (2, 40, 1) sequence with `value` at one place."
    inputs = torch.randn(2, 40, 1)
    inputs[where or (0, 3, 0)] = value
    return inputs


def checkpoint_file(tmp_path, edit=None):
    "A saved checkpoint, its bytes passed through `edit`."
    path = save(MODEL, tmp_path / "model.safetensors")
    if edit:
        path.write_bytes(edit(path.read_bytes()))
    return path


def disagreeing_checkpoint(tmp_path):
    "The tensors of one config under the metadata of another (num_latents 8 stored, 4 claimed)."
    state = {name: tensor.clone() for name, tensor in MODEL.state_dict().items()}
    config = dict(json.loads(json.dumps(vars(MODEL.config))), num_latents=4)
    entry = {"model": "Perceiver", "config": config, "aliases": {}}
    save_file(state, tmp_path / "disagrees.safetensors", metadata={"perceiver_lite": json.dumps(entry)})
    return tmp_path / "disagrees.safetensors"


class Unregistered(nn.Module):
    config = PerceiverConfig()


# (id, exception, message pattern, call with tmp_path, *marks)
CASES = [
    # ---- tensors at a model's door (the layers inside trust their callers)
    (
        "array-rank-2",
        ValueError,
        r"inputs must be \(B, \?, 10\), got \(4, 10\)",
        lambda tmp: ARRAY_MODEL(torch.randn(4, 10)),
    ),
    (
        "array-wrong-channels",
        ValueError,
        r"inputs must be \(B, \?, 10\), got \(2, 6, 12\)",
        lambda tmp: ARRAY_MODEL(torch.randn(2, 6, 12)),
    ),
    (
        "array-integer-dtype",
        ValueError,
        r"inputs must be torch.float32 like the model's weights, got torch.int64",
        lambda tmp: ARRAY_MODEL(torch.ones(2, 6, 10, dtype=torch.long)),
    ),
    (
        "array-is-a-list",
        TypeError,
        r"inputs must be a torch.Tensor \(B, \?, 10\), got list",
        lambda tmp: ARRAY_MODEL([[0.0] * 10]),
    ),
    (
        "array-is-numpy",
        TypeError,
        r"inputs must be a torch.Tensor \(B, \?, 1\), got ndarray",
        lambda tmp: MODEL(np.zeros((2, 40, 1), dtype=np.float32)),
    ),
    (
        "array-float64",
        ValueError,
        r"inputs must be torch.float32.*got torch.float64",
        lambda tmp: ARRAY_MODEL(torch.randn(2, 6, 10, dtype=torch.float64)),
    ),
    (
        "array-float-mask",
        ValueError,
        r"mask must be a torch.bool tensor \(B, M\) = \(2, 6\).*got torch.float32",
        lambda tmp: ARRAY_MODEL(torch.randn(2, 6, 10), mask=torch.ones(2, 6)),
    ),
    (
        "array-mask-is-a-list",
        ValueError,
        r"mask must be a torch.bool tensor.*got list",
        lambda tmp: ARRAY_MODEL(torch.randn(2, 6, 10), mask=[[True] * 6] * 2),
    ),
    (
        "array-mask-leaves-nothing",
        ValueError,
        r"mask must leave every example at least one element.*examples \[1\]",
        lambda tmp: ARRAY_MODEL(torch.randn(2, 6, 10), mask=torch.tensor([[True] * 6, [False] * 6])),
    ),
    (
        "array-empty",
        ValueError,
        r"M ≥ 1.*got shape \(2, 0, 10\)",
        lambda tmp: ARRAY_MODEL(torch.randn(2, 0, 10)),
    ),
    (
        "points-rank-2",
        ValueError,
        r"inputs must be \(B, \?, 3\), got \(5, 3\)",
        lambda tmp: POINTS_MODEL(torch.rand(5, 3)),
    ),
    (
        "maps-wrong-channels",
        ValueError,
        r"inputs must be \(B, \?, 1\), got \(2, 40, 2\)",
        lambda tmp: cross_attention_maps(MODEL, torch.randn(2, 40, 2)),
    ),
    (
        "streamed-nan",
        ValueError,
        r"inputs must be finite",
        lambda tmp: streamed_forward(MODEL, with_value(float("nan"))),
    ),
    (
        "io-queries-nan",
        ValueError,
        r"queries must be finite",
        lambda tmp: IO_MODEL(torch.randn(2, 40, 1), torch.full((2, 3, 8), float("nan"))),
    ),
    (
        "io-queries-batch",
        ValueError,
        r"queries must be \(2, \?, 8\), got \(3, 3, 8\)",
        lambda tmp: IO_MODEL(torch.randn(2, 40, 1), torch.randn(3, 3, 8)),
    ),
    (
        "io-queries-numpy",
        TypeError,
        r"queries must be a torch.Tensor \(2, \?, 8\), got ndarray",
        lambda tmp: IO_MODEL(torch.randn(2, 40, 1), np.zeros((2, 3, 8))),
    ),
    (
        "io-query-mask-shape",
        ValueError,
        r"query_mask must be a torch.bool tensor \(B, M\) = \(2, 3\)",
        lambda tmp: IO_MODEL(
            torch.randn(2, 40, 1), torch.randn(2, 3, 8), query_mask=torch.ones(2, 4, dtype=torch.bool)
        ),
    ),
    (
        "io-ids-float",
        TypeError,
        r"ids must be an int32 or int64 torch.Tensor \(B, T\), got torch.float32 \(1, 3\)",
        lambda tmp: BYTES_MODEL(torch.zeros(1, 3)),
    ),
    (
        "io-ids-too-long",
        ValueError,
        r"1 ≤ T ≤ 6, got \(1, 7\)",
        lambda tmp: BYTES_MODEL(torch.zeros(1, 7, dtype=torch.long)),
    ),
    (
        "io-ids-out-of-range",
        ValueError,
        r"ids must lie in \[0, 10\), got \[0, 10\]",
        lambda tmp: BYTES_MODEL(torch.tensor([[0, 10]])),
    ),
    # ---- configs: heads, widths and choices, each rule written once
    (
        "config-cross-heads-not-dividing-width",
        ValueError,
        r"qk_channels \(10\) must be divisible by num_cross_heads, got num_cross_heads=3",
        lambda tmp: PerceiverConfig(adapter="none", input_channels=10, num_cross_heads=3),
    ),
    (
        "config-zero-heads",
        ValueError,
        r"num_self_heads must be ≥ 1, got 0",
        lambda tmp: PerceiverConfig(num_self_heads=0),
    ),
    (
        "config-negative-width",
        ValueError,
        r"latent_dim must be ≥ 1, got -8",
        lambda tmp: PerceiverConfig(latent_dim=-8),
    ),
    (
        "config-negative-qk-channels",
        ValueError,
        r"qk_channels must be ≥ 1, got -4",
        lambda tmp: PerceiverConfig(qk_channels=-4),
    ),
    (
        "config-zero-v-channels",
        ValueError,
        r"v_channels must be ≥ 1, got 0",
        lambda tmp: PerceiverConfig(v_channels=0),
    ),
    (
        "config-zero-widening",
        ValueError,
        r"cross_widening must be ≥ 1, got 0",
        lambda tmp: PerceiverConfig(cross_widening=0),
    ),
    (
        "config-zero-input-channels",
        ValueError,
        r"input_channels must be ≥ 1, got 0",
        lambda tmp: PerceiverConfig(input_channels=0),
    ),
    (
        "config-unknown-spacing",
        ValueError,
        r"spacing must be 'linear' or 'log', got 'cubic'",
        lambda tmp: PerceiverConfig(spacing="cubic"),
    ),
    (
        "config-unknown-pooling",
        ValueError,
        r"pooling must be 'mean' or 'query', got 'max'",
        lambda tmp: PerceiverConfig(pooling="max"),
    ),
    (
        "decoder-negative-width",
        ValueError,
        r"query_dim must be ≥ 1, got -1",
        lambda tmp: DecoderConfig(query_dim=-1),
    ),
    (
        "decoder-zero-heads",
        ValueError,
        r"num_heads must be ≥ 1, got 0",
        lambda tmp: DecoderConfig(num_heads=0),
    ),
    (
        "io-config-negative-vocab",
        ValueError,
        r"vocab_size must be ≥ 1, got -5",
        lambda tmp: PerceiverIOConfig(vocab_size=-5),
    ),
    (
        "io-config-negative-byte-context",
        ValueError,
        r"byte_context must be ≥ 0, got -1",
        lambda tmp: PerceiverIOConfig(PerceiverConfig(adapter="none"), adapter="bytes", byte_context=-1),
    ),
    # ---- perceiver: configs with impossible values
    (
        "config-heads-not-dividing-width",
        ValueError,
        r"latent_dim \(30\) must be divisible by num_self_heads, got num_self_heads=4",
        lambda tmp: PerceiverConfig(latent_dim=30),
    ),
    (
        "config-zero-latents",
        ValueError,
        r"num_latents must be ≥ 1, got 0",
        lambda tmp: PerceiverConfig(num_latents=0),
    ),
    (
        "config-negative-bands",
        ValueError,
        r"num_bands must be ≥ 1, got -1",
        lambda tmp: PerceiverConfig(num_bands=-1),
    ),
    (
        "config-cross-attends-exceed-blocks",
        ValueError,
        r"num_cross_attends \(3\) must be ≤ num_blocks \(2\)",
        lambda tmp: PerceiverConfig(num_cross_attends=3, num_blocks=2),
    ),
    (
        "config-unknown-adapter",
        ValueError,
        r"adapter must be 'fourier', 'points' or 'none', got 'pixels'",
        lambda tmp: PerceiverConfig(adapter="pixels"),
    ),
    (
        "config-points-without-xyz",
        ValueError,
        r"input_channels must be ≥ 3, got 2",
        lambda tmp: PerceiverConfig(adapter="points", input_channels=2),
    ),
    (
        "config-resolution-axes",
        ValueError,
        r"max_resolution must have one entry per axis of input_shape \(8, 8\), got \(8,\)",
        lambda tmp: PerceiverConfig(input_shape=(8, 8), max_resolution=(8,)),
    ),
    (
        "model-qk-channels-not-dividing",
        ValueError,
        r"qk_channels \(30\) must be divisible by num_self_heads, got num_self_heads=4",
        lambda tmp: PerceiverConfig(qk_channels=30),
    ),
    (
        "model-unknown-gelu",
        ValueError,
        r"gelu must be 'exact' or 'tanh', got 'relu'",
        lambda tmp: Perceiver(PerceiverConfig(gelu="relu")),
    ),
    (
        "config-unknown-gelu-at-config-time",
        ValueError,
        r"gelu must be 'exact' or 'tanh', got 'relu'",
        lambda tmp: PerceiverConfig(gelu="relu"),
    ),
    (
        "config-float-latents",
        TypeError,
        r"num_latents must be an int, got 2.5",
        lambda tmp: Perceiver(PerceiverConfig(num_latents=2.5)),
    ),
    (
        "config-string-latents",
        TypeError,
        r"num_latents must be an int, got '8'",
        lambda tmp: PerceiverConfig(num_latents="8"),
    ),
    (
        "config-negative-self-attends",
        ValueError,
        r"num_self_attends_per_block must be ≥ 0, got -1",
        lambda tmp: PerceiverConfig(num_self_attends_per_block=-1),
    ),
    (
        "config-empty-grid",
        ValueError,
        r"input_shape.*≥ 1, got \(0,\)",
        lambda tmp: PerceiverConfig(input_shape=(0,)),
    ),
    (
        "config-negative-resolution",
        ValueError,
        r"max_resolution must be positive, got \(-5,\)",
        lambda tmp: PerceiverConfig(max_resolution=(-5,)),
    ),
    # ---- perceiver: raw inputs
    (
        "forward-missing-channel-axis",
        ValueError,
        r"inputs must be \(B, \?, 1\), got \(2, 40\)",
        lambda tmp: MODEL(torch.randn(2, 40)),
    ),
    (
        "forward-wrong-channels",
        ValueError,
        r"inputs must be \(B, \?, 1\), got \(2, 40, 3\)",
        lambda tmp: MODEL(torch.randn(2, 40, 3)),
    ),
    (
        "forward-image-for-sequence-model",
        ValueError,
        r"inputs must be \(B, \?, 1\), got \(2, 8, 8, 1\)",
        lambda tmp: MODEL(torch.randn(2, 8, 8, 1)),
    ),
    (
        "forward-nan",
        ValueError,
        r"inputs must be finite, got NaN or inf",
        lambda tmp: MODEL(with_value(float("nan"))),
    ),
    (
        "forward-inf",
        ValueError,
        r"inputs must be finite, got NaN or inf",
        lambda tmp: MODEL(with_value(float("inf"))),
    ),
    (
        "points-nan",
        ValueError,
        r"inputs must be finite",
        lambda tmp: POINTS_MODEL(torch.full((1, 5, 3), float("nan"))),
    ),
    (
        "points-wrong-channels",
        ValueError,
        r"inputs must be \(B, \?, 3\), got \(1, 5, 2\)",
        lambda tmp: POINTS_MODEL(torch.rand(1, 5, 2)),
    ),
    (
        "forward-empty-grid",
        ValueError,
        r"inputs .*M ≥ 1.*got shape \(2, 0, 1\)",
        lambda tmp: MODEL(torch.randn(2, 0, 1)),
    ),
    (
        "forward-empty-batch",
        ValueError,
        r"B ≥ 1.*got shape \(0, 40, 1\)",
        lambda tmp: MODEL(torch.randn(0, 40, 1)),
    ),
    (
        "forward-float64",
        ValueError,
        r"inputs must be torch.float32.*got torch.float64",
        lambda tmp: MODEL(torch.randn(2, 40, 1, dtype=torch.float64)),
    ),
    (
        "forward-mask-wrong-length",
        ValueError,
        r"mask must be a torch.bool tensor \(B, M\) = \(2, 40\), got torch.bool \(2, 39\)",
        lambda tmp: MODEL(torch.randn(2, 40, 1), mask=torch.ones(2, 39, dtype=torch.bool)),
    ),
    (
        "converter-non-gelu",
        ValueError,
        r"hidden_act must be a GELU .*got 'relu'",
        lambda tmp: config_from_transformers(SimpleNamespace(hidden_act="relu"), 24),
    ),
    (
        "converter-state-not-a-mapping",
        TypeError,
        r"state_dict must be a mapping.*got list",
        lambda tmp: encoder_state_from_transformers([("encoder.x", torch.zeros(1))]),
    ),
    # ---- checkpoint
    (
        "checkpoint-truncated",
        ValueError,
        r"model\.safetensors is corrupt or truncated",
        lambda tmp: load(checkpoint_file(tmp, lambda raw: raw[: len(raw) // 2])),
    ),
    (
        "checkpoint-corrupt-header",
        ValueError,
        r"model\.safetensors is corrupt or truncated.*JSON",
        lambda tmp: load(checkpoint_file(tmp, lambda raw: raw[:8] + b"#" * 16 + raw[24:])),
    ),
    (
        "checkpoint-empty-file",
        ValueError,
        r"model\.safetensors is corrupt or truncated.*header too small",
        lambda tmp: load(checkpoint_file(tmp, lambda raw: b"")),
    ),
    (
        "checkpoint-is-torch-save",
        ValueError,
        r"model\.safetensors is a zip archive \(torch\.save's format",
        lambda tmp: load(
            checkpoint_file(
                tmp, lambda raw: torch.save(MODEL.state_dict(), tmp / "t.pt") or (tmp / "t.pt").read_bytes()
            )
        ),
    ),
    (
        "checkpoint-is-pickle",
        ValueError,
        r"model\.safetensors is a pickle .*can run arbitrary code",
        lambda tmp: load(checkpoint_file(tmp, lambda raw: pickle.dumps({"weights": [1.0, 2.0]}))),
    ),
    (
        "checkpoint-config-disagrees",
        ValueError,
        r"disagrees\.safetensors does not match its Perceiver config: mis-shaped \[encoder\.latents expected "
        r"\(4, 16\), "
        r"got \(8, 16\)\]",
        lambda tmp: load(disagreeing_checkpoint(tmp)),
    ),
    (
        "checkpoint-without-config",
        ValueError,
        r"bare\.safetensors has no 'perceiver_lite' entry in its metadata",
        lambda tmp: load(
            save_file({"w": torch.zeros(1)}, tmp / "bare.safetensors") or tmp / "bare.safetensors"
        ),
    ),
    (
        "checkpoint-missing-file",
        FileNotFoundError,
        r"no checkpoint at .*absent\.safetensors",
        lambda tmp: load(tmp / "absent.safetensors"),
    ),
    (
        "save-unregistered-model",
        ValueError,
        r"Unregistered is not registered for checkpoints",
        lambda tmp: save(Unregistered(), tmp / "x.safetensors"),
    ),
    (
        "register-config-not-dataclass",
        TypeError,
        r"config_cls must be a dataclass class, got <class 'dict'>",
        lambda tmp: register(PerceiverEncoder, dict),
    ),
    ("seed-negative", ValueError, r"seed must be in \[0, 2\*\*32\).*got -1", lambda tmp: seed_everything(-1)),
    ("seed-not-an-int", TypeError, r"seed must be an int, got str '0'", lambda tmp: seed_everything("0")),
]


@pytest.mark.parametrize(
    "error, pattern, call",
    [
        pytest.param(error, pattern, call, id=name, marks=marks)
        for name, error, pattern, call, *marks in CASES
    ],
)
def test_bad_input_is_refused_clearly(tmp_path, error, pattern, call):
    with pytest.raises(error, match=pattern):
        call(tmp_path)


def test_catalogue_is_broad():
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names)) and len(names) >= 20
    assert {name.split("-")[0] for name in names} >= {
        "array",
        "io",
        "decoder",
        "config",
        "forward",
        "checkpoint",
    }
